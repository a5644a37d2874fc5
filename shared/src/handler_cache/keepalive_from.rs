//! When an idle instance's keep-alive clock starts: at the end of the call
//! it served (SOCK, OpenLambda, dslab-faas, "Serverless in the Wild", whose
//! idle time runs from one call's end to the next one's start), or at the
//! call's start (FaasCache, whose `last_access_t` is the arrival of the
//! call that used the container). A replay-time choice, so it is a key of
//! the handler tier (`tiers.handler.keepalive_from`) and a `sim` flag
//! (`--keepalive-from`), not a property of the trace.

use crate::units::Micros;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepaliveFrom {
    /// The call's end (default): an instance is idle only once it is idle.
    #[default]
    End,
    /// The call's start (FaasCache): a call longer than the keep-alive
    /// leaves an instance whose keep-alive has already run out; it is
    /// paused, then expired at the next event (an arrival or completion).
    Start,
}

impl KeepaliveFrom {
    /// The instant an instance that served a call from `start` to `end`
    /// counts as idle since.
    pub fn idle_since(self, start: Micros, end: Micros) -> Micros {
        match self {
            KeepaliveFrom::End => end,
            KeepaliveFrom::Start => start.min(end),
        }
    }

    /// For `skip_serializing_if`: the default is not written, so a
    /// settings or summary file without the key is unchanged.
    pub fn is_end(&self) -> bool {
        *self == KeepaliveFrom::End
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_since_is_the_end_or_the_start() {
        let (a, b) = (Micros(10), Micros(25));
        assert_eq!(KeepaliveFrom::End.idle_since(a, b), b);
        assert_eq!(KeepaliveFrom::Start.idle_since(a, b), a);
        let parse = |t: &str| serde_json::from_str::<KeepaliveFrom>(t).map_err(|e| e.to_string());
        assert_eq!(parse("\"start\""), Ok(KeepaliveFrom::Start));
        assert!(parse("\"begin\"")
            .expect_err("bad")
            .contains("unknown variant"));
    }
}
