//! The clock-discipline engine: sans-I/O and deterministic. It takes events (replies with
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
//! ```
//! use ntpkit::clock::{SimulatedClock, SystemClock};
//! use ntpkit::engine::{apply_clock_command, Action, Engine, EngineConfig, SourceConfig};
//! use ntpkit::wire::time::{NtpTimestamp, UnixTime};
//!
//! let mut clock = SimulatedClock::new(UnixTime::new(1_780_000_000, 0), 0.0, 10.0);
//! let now = |c: &SimulatedClock| NtpTimestamp::from_unix(c.now().unwrap());
//! let mut engine = Engine::new(EngineConfig::default(), now(&clock));
//! let server = engine.add_source(
//!     SourceConfig::server("192.0.2.1".parse().unwrap()).with_iburst(),
//!     now(&clock),
//! );
//! // The driver loop: sleep until the wake-up (or a packet), feed the event, act.
//! let wake = engine.next_wakeup();
//! clock.advance((wake - now(&clock)).to_seconds().max(0.0));
//! for action in engine.handle_timer(now(&clock)) {
//!     match action {
//!         Action::Send { assoc, packet } => {
//!             assert_eq!(assoc, server);
//!             // socket.send_to(&packet.serialize(), addr); later, on a reply:
//!             // engine.handle_packet(assoc, &Header::parse(&buf)?, receive_time)
//!             let _ = packet;
//!         }
//!         Action::Clock(cmd) => {
//!             let result = apply_clock_command(&mut clock, cmd);
//!             engine.clock_result(&cmd, &result);
//!         }
//!         _ => {}
//!     }
//! }
//! ```
//!
//! The discipline: see `docs/engine.md` and [`discipline`]'s module documentation.

pub mod discipline;
mod estimator;
pub mod leap;
mod peer;
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
