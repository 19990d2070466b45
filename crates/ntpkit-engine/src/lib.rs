//! ntpkit's NTP clock-discipline engine: sans-I/O and deterministic. It takes events (replies with
//! their timestamps, timer expiries) and returns actions (packets to send, clock commands,
//! the next wake-up). It never reads a clock, a socket or a file.
//!
//! # API
//!
//! * [`Engine::new`]`(EngineConfig, now)` — `now` is the current clock reading
//!   ([`NtpTimestamp`](ntpkit_wire::time::NtpTimestamp)). [`EngineConfig`] carries the
//!   step policy (`tinker step/stepout/panic`, `-g`), the drift-file frequency
//!   (`initial_frequency_ppm`), `tos orphan/minsane/maxdist`, precision.
//! * [`Engine::add_source`]`(SourceConfig, now) -> AssocId` — `server ADDR [iburst] [burst]
//!   [minpoll N] [maxpoll N] [prefer] [noselect]` ([`SourceConfig::server`]) or the LOCAL
//!   driver 127.127.1.0 ([`SourceConfig::local_clock`]`(fudge_stratum)`).
//!   [`Engine::remove_source`] for `unpeer`.
//! * [`Engine::handle_timer`]`(now) -> Vec<Action>` — call at (or after)
//!   [`Engine::next_wakeup`]`()`, which is a clock reading.
//! * [`Engine::handle_packet`]`(assoc, &Header, received) -> Vec<Action>` — a reply from
//!   that association's server; `received` is the local clock when it arrived (T4). The
//!   engine checks origin/duplicates/KoD itself (RATE raises the poll, DENY/RSTR
//!   demobilize).
//! * [`Action`]: `Send { assoc, packet }` (send as-is; its transmit timestamp is the `now`
//!   of the call, so read the clock right before calling), `Clock(ClockCommand)` (apply
//!   with [`apply_clock_command`] to a [`crate::system_clock::SystemClock`]), `Demobilize`,
//!   `Panic { offset }` (exit like ntpd), `Event` (log).
//! * Status for mode 6: [`Engine::system_status`] ([`SystemStatus`]: leap, stratum,
//!   precision, rootdelay, rootdisp, refid, reftime, peer, tc, mintc, offset, frequency,
//!   sys_jitter, clk_jitter, clk_wander, event counter, [`SystemStatus::status_word`]) and
//!   [`Engine::peer_status`] ([`PeerStatus`]: everything `ntpq -c rv ASSOC` shows incl.
//!   reach, hpoll/ppoll, flash, select code, filter stages newest first). All in seconds
//!   (ms conversion is the renderer's business). [`Engine::associations`] lists the IDs.
//! * [`Engine::clock_result`]`(&command, &result)` — the clock's answer to each clock
//!   command ([`apply_clock_command`]'s result): the engine books only what the clock did.
//!   [`EngineConfig::clock_limits`] declares what the clock accepts
//!   ([`crate::system_clock::SystemClock::limits`]); commands are planned within it.
//! * [`Engine::frequency_ppm`] — the value to write to the drift file.
//! * [`Engine::set_observe_only`] — call when clock commands cannot take effect (`--observe-only`,
//!   no privileges, EPERM): the engine then stops booking its corrections (it keeps
//!   exact books of what it commanded) and emits no more clock commands, while the status
//!   keeps showing the offset and frequency the clock would need.
//!
//! # Example
//!
//! A complete driver in virtual time: a clock that runs 0.3 s behind and 10 ppm fast, a
//! server that answers with the true time after 1 ms each way. The engine steps the
//! clock on its first update and then synchronises. A real driver does the same with a
//! socket, a timer and the kernel clock (the `ntpkit` crate's `daemon` and `clock`).
//!
//! ```
//! use ntpkit_engine::{
//!     apply_clock_command, Action, ClockError, ClockLimits, ClockState, Engine, EngineConfig,
//!     SourceConfig, SyncStatus, SystemClock,
//! };
//! use ntpkit_wire::packet::{Header, Leap, Mode, RefId};
//! use ntpkit_wire::time::{NtpDuration, NtpShort, NtpTimestamp, UnixTime};
//!
//! /// A clock in virtual time: `true_time` passes, the reading drifts and obeys commands.
//! struct VirtualClock { true_time: f64, offset: f64, drift_ppm: f64, freq_ppm: f64 }
//!
//! const EPOCH: i64 = 1_780_000_000;
//! fn at(seconds: f64) -> UnixTime {
//!     UnixTime::new(EPOCH, 0) + NtpDuration::from_seconds(seconds)
//! }
//!
//! impl VirtualClock {
//!     fn advance(&mut self, dt: f64) {
//!         self.offset += (self.drift_ppm + self.freq_ppm) * 1e-6 * dt;
//!         self.true_time += dt;
//!     }
//!     fn reading(&self) -> NtpTimestamp {
//!         NtpTimestamp::from_unix(at(self.true_time + self.offset))
//!     }
//! }
//!
//! impl SystemClock for VirtualClock {
//!     fn now(&self) -> Result<UnixTime, ClockError> {
//!         Ok(at(self.true_time + self.offset))
//!     }
//!     fn set_frequency(&mut self, ppm: f64) -> Result<f64, ClockError> {
//!         self.freq_ppm = ppm;
//!         Ok(ppm)
//!     }
//!     fn step(&mut self, offset: f64) -> Result<(), ClockError> {
//!         self.offset += offset;
//!         Ok(())
//!     }
//!     fn set_leap(&mut self, _leap: Leap) -> Result<(), ClockError> {
//!         Ok(())
//!     }
//!     fn set_sync_status(&mut self, _status: SyncStatus) -> Result<(), ClockError> {
//!         Ok(())
//!     }
//!     fn state(&self) -> Result<ClockState, ClockError> {
//!         Err(ClockError::Os("not kept".into()))
//!     }
//!     fn limits(&self) -> ClockLimits {
//!         ClockLimits::LINUX
//!     }
//! }
//!
//! /// The server's answer to `request`, which it received at true time `t`.
//! fn reply(request: &Header, t: f64) -> Header {
//!     let now = NtpTimestamp::from_unix(at(t));
//!     Header {
//!         leap: Leap::NoWarning,
//!         version: 4,
//!         mode: Mode::Server,
//!         stratum: 1,
//!         poll: request.poll,
//!         precision: -20,
//!         root_delay: NtpShort(0),
//!         root_dispersion: NtpShort::from_seconds(1e-5),
//!         reference_id: RefId::from_ascii("GPS"),
//!         reference_ts: now,
//!         origin_ts: request.transmit_ts,
//!         receive_ts: now,
//!         transmit_ts: now,
//!     }
//! }
//!
//! let mut clock = VirtualClock { true_time: 0.0, offset: -0.3, drift_ppm: 10.0, freq_ppm: 0.0 };
//! let mut engine = Engine::new(EngineConfig::default(), clock.reading());
//! let server = engine.add_source(
//!     SourceConfig::server("192.0.2.1".parse().unwrap()).with_iburst(),
//!     clock.reading(),
//! );
//! let mut steps = 0;
//! while clock.true_time < 3600.0 {
//!     // Sleep until the engine's wake-up (a clock reading), then feed it the timer.
//!     let wait = (engine.next_wakeup() - clock.reading()).to_seconds().max(0.0);
//!     clock.advance(wait);
//!     let mut actions = engine.handle_timer(clock.reading());
//!     while let Some(action) = actions.pop() {
//!         match action {
//!             Action::Send { assoc, packet } => {
//!                 // On the wire: packet.serialize() out, Header::parse(&buf) back in.
//!                 let request = Header::parse(&packet.serialize()).unwrap();
//!                 let answer = reply(&request, clock.true_time + 0.001);
//!                 clock.advance(0.002);
//!                 actions.extend(engine.handle_packet(assoc, &answer, clock.reading()));
//!             }
//!             Action::Clock(command) => {
//!                 let result = apply_clock_command(&mut clock, command);
//!                 steps += matches!(result, Ok(ntpkit_engine::ClockCommand::Step { .. })) as u32;
//!                 engine.clock_result(&command, &result);
//!             }
//!             _ => {}
//!         }
//!     }
//! }
//! let status = engine.system_status();
//! assert_eq!(steps, 1);
//! assert_eq!(status.stratum, 2);
//! assert_eq!(engine.peer_status(server).unwrap().reach, 0xff);
//! assert!(clock.offset.abs() < 0.001, "clock still {} s off", clock.offset);
//! ```
//!
//! The discipline: see `docs/engine.md` and [`discipline`]'s module documentation.

mod asymmetry;
pub mod discipline;
mod estimator;
pub mod leap;
mod peer;
pub mod replay;
mod system;
pub mod system_clock;
mod types;

pub use system::Engine;
pub use system_clock::{ClockError, ClockLimits, ClockState, SyncStatus, SystemClock};
pub use types::*;

/// Carry out a clock command on a clock backend. Returns the command as the clock carried
/// it out (a frequency rounded to the clock's resolution); hand the result to
/// [`Engine::clock_result`] so that the engine books only what happened.
pub fn apply_clock_command<C: SystemClock + ?Sized>(
    clock: &mut C,
    command: ClockCommand,
) -> Result<ClockCommand, ClockError> {
    match command {
        ClockCommand::SetFrequency { ppm } => clock
            .set_frequency(ppm)
            .map(|ppm| ClockCommand::SetFrequency { ppm }),
        ClockCommand::Step { offset } => clock.step(offset).map(|()| command),
        ClockCommand::SetLeap(leap) => clock.set_leap(leap).map(|()| command),
        ClockCommand::SetSyncStatus(status) => clock.set_sync_status(status).map(|()| command),
    }
}

pub mod filter;
pub mod select;
