//! End-to-end test helpers: containers made of namespaces and cgroups.
