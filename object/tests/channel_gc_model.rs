//! The channel collector against a model: random creates, writes carrying endpoint handles,
//! reads, duplicates and closes on one handle table; after every step an endpoint must be
//! alive exactly when the model can reach it from the table (through the queues of reachable
//! endpoints), its peer must see `PEER_CLOSED` exactly when it is dead, and a dead endpoint
//! must be freed. A second run lets the collector work in small steps between the operations
//! (as other threads would run between the kernel's steps): then an endpoint the model can
//! reach must never be closed or freed, and everything settles exactly once the work is done.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use abi::{zx_handle_t, Rights, Signals, Status};
use object::channel::Channel;
use object::handle::{Handle, HandleTable};
use object::object::KernelObject;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Create,
    /// Writes through the endpoint of table entry `writer` the entries `carry` (indices into
    /// the table entries, taken modulo their number).
    Write {
        writer: usize,
        carry: Vec<usize>,
    },
    Read {
        reader: usize,
    },
    Duplicate {
        entry: usize,
    },
    Close {
        entry: usize,
    },
    /// Lets the collector and reaper do this many steps (only in the stepwise run).
    Steps {
        count: usize,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Create),
        5 => (any::<usize>(), proptest::collection::vec(any::<usize>(), 0..4))
            .prop_map(|(writer, carry)| Op::Write { writer, carry }),
        3 => any::<usize>().prop_map(|reader| Op::Read { reader }),
        1 => any::<usize>().prop_map(|entry| Op::Duplicate { entry }),
        3 => any::<usize>().prop_map(|entry| Op::Close { entry }),
    ]
}

fn stepwise_op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => op_strategy(),
        3 => (1usize..4).prop_map(|count| Op::Steps { count }),
    ]
}

/// The collector's state and the deferred work are global: one run at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Does all the work left for later (only left once the stepwise run installed a hook).
fn drain() {
    while object::channel::free_dead_chunk() {}
}

struct ModelEndpoint {
    peer: usize,
    alive: bool,
    /// Messages, each the endpoints its handles refer to.
    queue: VecDeque<Vec<usize>>,
}

struct World {
    table: HandleTable,
    /// Table entries: value and endpoint.
    entries: Vec<(zx_handle_t, usize)>,
    model: Vec<ModelEndpoint>,
    real: Vec<Weak<Channel>>,
    /// The collector works in steps between operations: the real endpoints may lag behind
    /// the model's deaths.
    stepwise: bool,
}

impl World {
    fn new(stepwise: bool) -> World {
        World {
            stepwise,
            table: HandleTable::new(0x6a6a_0000, 1 << 16),
            entries: Vec::new(),
            model: Vec::new(),
            real: Vec::new(),
        }
    }

    fn endpoint(&self, entry: usize) -> Arc<Channel> {
        let (value, _) = self.entries[entry];
        self.table
            .get_object::<Channel>(value, Rights::NONE)
            .unwrap()
            .0
    }

    fn remove_entry(&mut self, value: zx_handle_t) {
        self.entries.retain(|&(v, _)| v != value);
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Create => {
                let (a, b) = Channel::create().unwrap();
                let id = self.model.len();
                for (index, endpoint) in [a, b].into_iter().enumerate() {
                    self.real.push(Arc::downgrade(&endpoint));
                    self.model.push(ModelEndpoint {
                        peer: id + 1 - index,
                        alive: true,
                        queue: VecDeque::new(),
                    });
                    let value = self
                        .table
                        .add(Handle::new(
                            endpoint,
                            Rights::DEFAULT_CHANNEL | Rights::DUPLICATE,
                        ))
                        .unwrap();
                    self.entries.push((value, id + index));
                }
            }
            Op::Write { writer, carry } => {
                if self.entries.is_empty() {
                    return;
                }
                let writer = writer % self.entries.len();
                let (writer_value, writer_id) = self.entries[writer];
                let mut carried: Vec<usize> = Vec::new();
                for &c in carry {
                    let c = c % self.entries.len();
                    if c != writer && !carried.contains(&c) {
                        carried.push(c);
                    }
                }
                let values: Vec<zx_handle_t> = carried.iter().map(|&c| self.entries[c].0).collect();
                let ids: Vec<usize> = carried.iter().map(|&c| self.entries[c].1).collect();
                let channel = self.endpoint(writer);
                let result = self
                    .table
                    .take_for_transfer(&values, Some(channel.base().koid()))
                    .and_then(|handles| channel.write(b"m", handles).map(|_| ()));
                drop(channel);
                for &value in &values {
                    self.remove_entry(value);
                }
                let peer = self.model[writer_id].peer;
                if ids.contains(&writer_id) {
                    assert_eq!(result, Err(Status::NOT_SUPPORTED));
                } else if !self.model[peer].alive {
                    if !(self.stepwise && result == Ok(())) {
                        assert_eq!(result, Err(Status::PEER_CLOSED));
                    }
                } else {
                    assert_eq!(result, Ok(()));
                    self.model[peer].queue.push_back(ids);
                }
                let _ = writer_value;
            }
            Op::Read { reader } => {
                if self.entries.is_empty() {
                    return;
                }
                let reader = reader % self.entries.len();
                let (_, id) = self.entries[reader];
                let channel = self.endpoint(reader);
                let result = channel.read(64, 64);
                drop(channel);
                match self.model[id].queue.pop_front() {
                    None => {
                        let status = result.unwrap_err().status;
                        let peer_alive = self.model[self.model[id].peer].alive;
                        let expected = if peer_alive {
                            Status::SHOULD_WAIT
                        } else {
                            Status::PEER_CLOSED
                        };
                        if !(self.stepwise && status == Status::SHOULD_WAIT) {
                            assert_eq!(status, expected);
                        }
                    }
                    Some(ids) => {
                        let message = result.unwrap();
                        let koids: Vec<u64> = message.handles.iter().map(|h| h.koid()).collect();
                        let values = self.table.insert_many(message.handles).unwrap();
                        for ((value, id), koid) in values.into_iter().zip(ids).zip(koids) {
                            let real = self.real[id].upgrade().unwrap();
                            assert_eq!(real.base().koid(), koid);
                            self.entries.push((value, id));
                        }
                    }
                }
            }
            Op::Duplicate { entry } => {
                if self.entries.is_empty() {
                    return;
                }
                let entry = entry % self.entries.len();
                let (value, id) = self.entries[entry];
                let new = self.table.duplicate(value, Rights::SAME_RIGHTS).unwrap();
                self.entries.push((new, id));
            }
            Op::Close { entry } => {
                if self.entries.is_empty() {
                    return;
                }
                let entry = entry % self.entries.len();
                let (value, _) = self.entries[entry];
                self.table.close(value).unwrap();
                self.remove_entry(value);
            }
            Op::Steps { count } => {
                for _ in 0..*count {
                    object::channel::free_dead_chunk();
                }
            }
        }
        if !self.stepwise {
            drain();
        }
        self.settle();
    }

    /// Kills the endpoints the table no longer reaches.
    fn settle(&mut self) {
        let mut reachable = vec![false; self.model.len()];
        let mut work: Vec<usize> = self.entries.iter().map(|&(_, id)| id).collect();
        while let Some(id) = work.pop() {
            if reachable[id] {
                continue;
            }
            reachable[id] = true;
            for message in &self.model[id].queue {
                work.extend(message.iter().copied());
            }
        }
        for (id, endpoint) in self.model.iter_mut().enumerate() {
            if endpoint.alive && !reachable[id] {
                endpoint.alive = false;
                endpoint.queue.clear();
            }
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for (id, endpoint) in self.model.iter().enumerate() {
            let real = self.real[id].upgrade();
            if !endpoint.alive && self.stepwise {
                // May still be on its way out.
                continue;
            }
            if !endpoint.alive {
                prop_assert!(
                    real.is_none(),
                    "endpoint {} is unreachable but not freed",
                    id
                );
                continue;
            }
            let real = match real {
                Some(real) => real,
                None => return Err(TestCaseError::fail(format!("endpoint {id} freed"))),
            };
            prop_assert_eq!(
                real.pending_messages(),
                endpoint.queue.len(),
                "endpoint {}",
                id
            );
            let peer_dead = !self.model[endpoint.peer].alive;
            let signals = real.base().signals().get();
            if self.stepwise && peer_dead {
                // The peer may not be closed yet; a live one must never be.
                continue;
            }
            prop_assert_eq!(
                signals.contains(Signals::CHANNEL_PEER_CLOSED),
                peer_dead,
                "endpoint {}: peer-closed signal",
                id
            );
            prop_assert_eq!(real.is_peer_closed(), peer_dead);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, max_shrink_iters: 4000, ..ProptestConfig::default() })]

    #[test]
    fn channel_gc_model_endpoints_live_exactly_while_reachable(
        ops in proptest::collection::vec(op_strategy(), 1..80)
    ) {
        let _serial = serial();
        let mut world = World::new(false);
        for op in &ops {
            world.apply(op);
            world.check()?;
        }
        world.table.clear();
        world.entries.clear();
        drain();
        world.settle();
        world.check()?;
    }

    #[test]
    fn channel_gc_model_mutations_between_collector_steps_never_free_a_reachable_endpoint(
        ops in proptest::collection::vec(stepwise_op_strategy(), 1..120)
    ) {
        let _serial = serial();
        // Work is left for later from now on, and a step does as little as it can (one
        // endpoint of a list, or one message of a queue scan).
        object::preempt::set_hook(|| true);
        object::channel::testing::set_step_units(1);
        let mut world = World::new(true);
        for op in &ops {
            world.apply(op);
            world.check()?;
        }
        drain();
        world.stepwise = false;
        world.check()?;
        world.table.clear();
        world.entries.clear();
        drain();
        world.settle();
        world.check()?;
    }
}
