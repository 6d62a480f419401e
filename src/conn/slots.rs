//! Connection slots: a cap on open connections, overall and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections, counted so a full server refuses newcomers at once
/// instead of running out of descriptors.
pub(super) struct Slots {
    max: usize,
    /// 0: no cap.
    per_address: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One connection's place; given back when dropped.
pub(super) struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
}

/// Why a connection was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    Full,
    Address,
}

impl Slots {
    pub(super) fn new(max: usize, per_address: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            per_address,
            open: Mutex::default(),
        })
    }

    pub(super) fn take(self: &Arc<Self>, address: IpAddr) -> Result<Slot, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.max {
            return Err(Refusal::Full);
        }
        let mine = open.by_address.entry(address).or_default();
        if self.per_address > 0 && *mine >= self.per_address {
            return Err(Refusal::Address);
        }
        *mine += 1;
        open.total += 1;
        Ok(Slot {
            slots: self.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(mine) = open.by_address.get_mut(&self.address) {
            *mine -= 1;
            if *mine == 0 {
                // The map holds only addresses with open connections.
                open.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_overall_and_per_address_and_gives_back() {
        let slots = Slots::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = slots.take(a).unwrap();
        let _a2 = slots.take(a).unwrap();
        assert_eq!(slots.take(a).err(), Some(Refusal::Address));
        let _b1 = slots.take(b).unwrap();
        assert_eq!(slots.take(b).err(), Some(Refusal::Full));
        drop(a1);
        let _a3 = slots.take(a).unwrap();
        drop((_a2, _a3, _b1));
        assert!(slots.open.lock().unwrap().by_address.is_empty());
    }
}
