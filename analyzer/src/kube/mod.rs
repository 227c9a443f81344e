//! `kubectl holter`: records a pod on its node from the user's laptop by
//! driving their own `kubectl`: the pod read ([`pod`]), the agent's record
//! options taken and checked as the agent takes them ([`options`]), the
//! agent's Pod written ([`manifest`]), kubectl run and its refusals explained
//! ([`kubectl`]), the record flow ([`record`]).

pub mod kubectl;
pub mod manifest;
pub mod options;
pub mod pod;
pub mod record;
