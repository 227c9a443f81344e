//! The raw payloads of `sched:sched_switch` and `sched:sched_wakeup(_new)`:
//! field offsets and the letters of `prev_state` read from the tracepoints'
//! tracefs `format` files ([`Layout::new`]), then pure decoding of bytes
//! ([`Layout::decode`]).

use crate::syscalls::tracefs::Tracepoint;

/// Where the fields the agent reads sit in the raw data, and what
/// `prev_state`'s bits mean on this kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub switch_id: u64,
    /// `sched_wakeup` and `sched_wakeup_new` ids (same fields).
    pub wakeup_ids: Vec<u64>,
    type_off: usize,
    prev_pid: usize,
    prev_state: (usize, usize),
    next_pid: usize,
    /// `pid` of the wakeup tracepoints.
    woken_pid: usize,
    /// (bit, letter) of `prev_state`, from the print format.
    letters: Vec<(u64, u8)>,
}

/// One hit, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sched {
    /// `prev` left the CPU in `state` (a letter, `R` when runnable), `next` came on.
    Switch { prev: u32, state: u8, next: u32 },
    /// `pid` was woken (made runnable).
    Wakeup { pid: u32 },
}

impl Layout {
    /// `None` when a field is missing or of a size the agent does not read.
    pub fn new(
        switch: &Tracepoint,
        switch_print_fmt: &str,
        wakeups: &[Tracepoint],
    ) -> Option<Layout> {
        let sized = |tp: &Tracepoint, name: &str, size: usize| {
            tp.field(name).filter(|&(_, s)| s == size).map(|(o, _)| o)
        };
        let (state_off, state_size) = switch.field("prev_state")?;
        if !matches!(state_size, 4 | 8) {
            return None;
        }
        let first = wakeups.first()?;
        let woken_pid = sized(first, "pid", 4)?;
        if wakeups
            .iter()
            .any(|w| sized(w, "pid", 4) != Some(woken_pid) || sized(w, "common_type", 2).is_none())
        {
            return None;
        }
        Some(Layout {
            switch_id: switch.id,
            wakeup_ids: wakeups.iter().map(|w| w.id).collect(),
            type_off: sized(switch, "common_type", 2)?,
            prev_pid: sized(switch, "prev_pid", 4)?,
            prev_state: (state_off, state_size),
            next_pid: sized(switch, "next_pid", 4)?,
            woken_pid,
            letters: state_letters(switch_print_fmt),
        })
    }

    /// Decodes a raw payload of one of the layout's tracepoints.
    pub fn decode(&self, raw: &[u8]) -> Option<Sched> {
        let u16_at = |o: usize| Some(u16::from_ne_bytes(raw.get(o..o + 2)?.try_into().ok()?));
        let u32_at = |o: usize| Some(u32::from_ne_bytes(raw.get(o..o + 4)?.try_into().ok()?));
        let id = u64::from(u16_at(self.type_off)?);
        if id == self.switch_id {
            let (o, size) = self.prev_state;
            let bits = if size == 8 {
                u64::from_ne_bytes(raw.get(o..o + 8)?.try_into().ok()?)
            } else {
                u64::from(u32_at(o)?)
            };
            Some(Sched::Switch {
                prev: u32_at(self.prev_pid)?,
                state: self.letter(bits),
                next: u32_at(self.next_pid)?,
            })
        } else if self.wakeup_ids.contains(&id) {
            Some(Sched::Wakeup {
                pid: u32_at(self.woken_pid)?,
            })
        } else {
            None
        }
    }

    /// The letter of a `prev_state` value: its lowest known flag, `R` for
    /// none (running, or preempted: the `+` bit above the flags).
    pub fn letter(&self, bits: u64) -> u8 {
        self.letters
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .min_by_key(|(bit, _)| *bit)
            .map_or(b'R', |&(_, l)| l)
    }
}

/// The `{ 0x00000001, "S" }` pairs of a `sched_switch` print format: the
/// kernel's own table of `prev_state` flags. Pairs whose text is not one
/// letter are skipped.
pub fn state_letters(print_fmt: &str) -> Vec<(u64, u8)> {
    let mut out = Vec::new();
    let mut rest = print_fmt;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        let Some(end) = rest.find('}') else { break };
        let pair = &rest[..end];
        rest = &rest[end..];
        let Some((num, text)) = pair.split_once(',') else {
            continue;
        };
        let num = num.trim();
        let bit = match num.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => num.parse().ok(),
        };
        let text = text.trim().trim_matches('"');
        if let (Some(bit), [l]) = (bit, text.as_bytes()) {
            if bit != 0 && l.is_ascii_alphabetic() {
                out.push((bit, *l));
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::syscalls::tracefs::parse_format;

    /// The format files of Linux 6.18 (this VM's), as tracefs gives them.
    pub const SWITCH: &str = "name: sched_switch\nID: 372\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\
\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;\n\
\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;\n\
\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;\n\
\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;\n\
\tfield:int next_prio;\toffset:60;\tsize:4;\tsigned:1;\n\n";
    pub const SWITCH_FMT: &str = "print fmt: \"prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d\", REC->prev_comm, REC->prev_pid, REC->prev_prio, (REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1), \"|\", { 0x00000001, \"S\" }, { 0x00000002, \"D\" }, { 0x00000004, \"T\" }, { 0x00000008, \"t\" }, { 0x00000010, \"X\" }, { 0x00000020, \"Z\" }, { 0x00000040, \"P\" }, { 0x00000080, \"I\" }) : \"R\", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? \"+\" : \"\", REC->next_comm, REC->next_pid, REC->next_prio\n";
    pub const WAKEUP: &str = "name: sched_wakeup\nID: 374\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\
\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n\
\tfield:int target_cpu;\toffset:32;\tsize:4;\tsigned:1;\n\n";

    pub fn layout() -> Layout {
        let switch = parse_format(SWITCH).unwrap();
        let wakeup = parse_format(WAKEUP).unwrap();
        let mut wakeup_new = wakeup.clone();
        wakeup_new.id = 375;
        Layout::new(&switch, SWITCH_FMT, &[wakeup, wakeup_new]).unwrap()
    }

    /// A raw sched_switch payload as the kernel writes it (68 bytes).
    pub fn switch_raw(prev: u32, state: u64, next: u32) -> Vec<u8> {
        let mut r = vec![0u8; 64];
        r[0..2].copy_from_slice(&372u16.to_ne_bytes());
        r[8..12].copy_from_slice(b"work");
        r[24..28].copy_from_slice(&prev.to_ne_bytes());
        r[32..40].copy_from_slice(&state.to_ne_bytes());
        r[56..60].copy_from_slice(&next.to_ne_bytes());
        r
    }

    pub fn wakeup_raw(id: u16, pid: u32) -> Vec<u8> {
        let mut r = vec![0u8; 36];
        r[0..2].copy_from_slice(&id.to_ne_bytes());
        r[24..28].copy_from_slice(&pid.to_ne_bytes());
        r
    }

    #[test]
    fn letters_from_the_print_format() {
        let l = state_letters(SWITCH_FMT);
        assert_eq!(l.len(), 8);
        assert_eq!(l[0], (1, b'S'));
        assert_eq!(l[1], (2, b'D'));
        assert_eq!(l[7], (0x80, b'I'));
        assert!(state_letters("no table").is_empty());
        assert_eq!(
            state_letters("{ 0x4, \"T\" }, { zz, \"Q\" }, { 8, \"long\" }"),
            [(4, b'T')]
        );
    }

    #[test]
    fn switch_and_wakeups_decoded() {
        let l = layout();
        assert_eq!(
            l.decode(&switch_raw(41, 1, 0)),
            Some(Sched::Switch {
                prev: 41,
                state: b'S',
                next: 0
            })
        );
        assert_eq!(
            l.decode(&switch_raw(41, 2, 7)),
            Some(Sched::Switch {
                prev: 41,
                state: b'D',
                next: 7
            })
        );
        // Preempted: the bit above the flags ("R+"), or plain 0 ("R").
        for bits in [0x100, 0] {
            assert_eq!(
                l.decode(&switch_raw(41, bits, 7)),
                Some(Sched::Switch {
                    prev: 41,
                    state: b'R',
                    next: 7
                })
            );
        }
        assert_eq!(l.letter(0x80), b'I');
        assert_eq!(l.letter(0x3), b'S', "the lowest flag");
        assert_eq!(
            l.decode(&wakeup_raw(374, 9)),
            Some(Sched::Wakeup { pid: 9 })
        );
        assert_eq!(
            l.decode(&wakeup_raw(375, 9)),
            Some(Sched::Wakeup { pid: 9 })
        );
        assert_eq!(l.decode(&wakeup_raw(999, 9)), None, "another tracepoint");
        assert_eq!(l.decode(&switch_raw(41, 1, 7)[..40]), None, "cut");
        assert_eq!(l.decode(&[]), None);
    }

    #[test]
    fn missing_fields_refused() {
        let switch = parse_format(SWITCH).unwrap();
        let wakeup = parse_format(WAKEUP).unwrap();
        assert!(Layout::new(&switch, SWITCH_FMT, &[]).is_none());
        assert!(Layout::new(&wakeup, SWITCH_FMT, std::slice::from_ref(&wakeup)).is_none());
        let mut odd = switch.clone();
        odd.fields.retain(|f| f.name != "next_pid");
        assert!(Layout::new(&odd, SWITCH_FMT, &[wakeup]).is_none());
    }
}
