//! Whole user stacks without frame pointers: each sample's user registers
//! and a copy of the top of its user stack are unwound in the agent, while
//! recording, with framehop over the `.eh_frame`/`.debug_frame` of the mapped
//! files (read once per file), falling back per frame to frame pointers.
//! Only the return addresses go into the capture, never the stack bytes.

pub mod check;
pub mod process;
pub mod sections;
pub mod walk;

// The fixtures are x86_64 binaries with their saved x86_64 registers.
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

pub use sections::Sections;
pub use walk::{End, Regs};

/// How user stacks are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// DWARF CFI unwinding in the agent, frame pointers where a module has none.
    #[default]
    Dwarf,
    /// The kernel's frame-pointer callchain only (cheaper).
    Fp,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Dwarf => "dwarf",
            Mode::Fp => "fp",
        }
    }
}

/// Default size of the user stack copy in each sample.
pub const DEFAULT_STACK_BYTES: u32 = 16384;
/// The kernel's bound (the sample record's size is a u16).
pub const MAX_STACK_BYTES: u32 = 57344;
