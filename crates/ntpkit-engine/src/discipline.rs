//! The clock discipline: turns the combined source estimate into clock commands.
//!
//! The engine keeps an exact account of every correction it has commanded (frequency
//! segments and steps): `correction(t)`. A source's raw offset is its measured offset plus
//! the correction at the sample time, so the estimators never see the control loop. The
//! estimated current clock error is then `raw_estimate(now) − correction(now)`; the
//! discipline sets the frequency to the estimated raw rate (the drift) and removes the
//! phase error with a short slew — no PLL/FLL gains, no loop to ring.

use super::types::{ClockCommand, StepPolicy};
use crate::system_clock::ClockLimits;
use std::collections::VecDeque;

/// The initial fast correction ends once the offset is this small, s.
const CONVERGED: f64 = 5e-4;
/// Clock commands awaiting the clock's answer (drivers that never answer: the oldest are
/// taken as done).
const MAX_UNCONFIRMED: usize = 16;
/// After a refused frequency, the drift compensation is asked for again after this long,
/// doubling up to [`MAX_RETRY`] while the refusals go on, s.
const FIRST_RETRY: f64 = 1.0;
const MAX_RETRY: f64 = 64.0;

/// Correction per second of the corrected clock's own time line when the clock runs at
/// frequency correction `rate`: true time passes 1/(1+rate) s per clock second. Matters
/// during fast slews (a 5 % slew would otherwise be misaccounted by 5 %).
fn per_clock_second(rate: f64) -> f64 {
    rate / (1.0 + rate)
}

/// One piece of the correction account: from `start` on, the correction is
/// `value + rate·(t − start)`; `jump` is the step booked at `start` (part of `value`).
#[derive(Clone, Copy, Debug)]
struct Segment {
    start: f64,
    value: f64,
    rate: f64,
    jump: f64,
    /// Identifies the booking, so that the clock's answer can amend it.
    id: u64,
}

/// A piecewise-linear account of the correction applied to the clock.
#[derive(Clone, Debug)]
pub struct CorrectionLog {
    /// Newest last.
    segments: Vec<Segment>,
    next_id: u64,
}

impl CorrectionLog {
    pub fn new(start: f64, rate: f64) -> Self {
        CorrectionLog {
            segments: vec![Segment {
                start,
                value: 0.0,
                rate: per_clock_second(rate),
                jump: 0.0,
                id: 0,
            }],
            next_id: 1,
        }
    }

    pub fn at(&self, t: f64) -> f64 {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.start <= t)
            .unwrap_or(&self.segments[0]);
        seg.value + seg.rate * (t - seg.start)
    }

    fn current(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    /// The id of the newest booking.
    pub fn last_id(&self) -> u64 {
        self.current().id
    }

    /// From `t` on, correct at frequency `rate` (fraction), after adding `jump` (a step).
    /// Returns the booking's id.
    pub fn change(&mut self, t: f64, rate: f64, jump: f64) -> u64 {
        let rate = per_clock_second(rate);
        let t = t.max(self.current().start);
        let value = self.at(t) + jump;
        let id = self.next_id;
        self.next_id += 1;
        self.segments.push(Segment {
            start: t,
            value,
            rate,
            jump,
            id,
        });
        if self.segments.len() > 64 {
            self.segments.drain(..32);
        }
        id
    }

    /// The clock did something else than booking `id` says: it ran at `rate` (fraction)
    /// from that booking's start and/or stepped by `jump` there. Later bookings keep their
    /// own rates and steps but start from the corrected value. Returns false if the
    /// booking is too old to amend.
    pub fn amend(&mut self, id: u64, rate: Option<f64>, jump: Option<f64>) -> bool {
        let Some(k) = self.segments.iter().position(|s| s.id == id) else {
            return false;
        };
        if let Some(rate) = rate {
            self.segments[k].rate = per_clock_second(rate);
        }
        if let Some(jump) = jump {
            self.segments[k].value += jump - self.segments[k].jump;
            self.segments[k].jump = jump;
        }
        for i in k + 1..self.segments.len() {
            let p = self.segments[i - 1];
            let s = &mut self.segments[i];
            s.value = p.value + p.rate * (s.start - p.start) + s.jump;
        }
        true
    }
}

/// The combined estimate of the selected sources at some time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Combined {
    pub raw_offset: f64,
    pub frequency: f64,
    pub offset_var: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No clock update yet.
    Start,
    /// Normal running.
    Running,
}

/// What an update decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Adjust(Vec<ClockCommand>),
    /// Offset beyond the step threshold, waiting out stepout (ntpd SPIK state).
    Spike,
    Panic(f64),
}

#[derive(Clone, Debug)]
pub struct Discipline {
    pub log: CorrectionLog,
    pub phase: Phase,
    /// Drift compensation in force, ppm.
    pub base_ppm: f64,
    /// Phase slew in force on top of it, ppm, and when it ends.
    pub slew_ppm: f64,
    pub slew_end: Option<f64>,
    spike_since: Option<f64>,
    /// The initial correction is done (|offset| was below [`CONVERGED`] once); from
    /// then on phase slews are limited to the normal rate.
    converged: bool,
    observe_only: bool,
    updates: u32,
    pub last_offset: f64,
    pub clk_jitter: f64,
    pub clk_wander: f64,
    pub steps: u32,
    /// Total of all steps, s (engine time = clock time minus this).
    pub stepped: f64,
    max_frequency_ppm: f64,
    /// What the clock accepts: every command is planned within it.
    limits: ClockLimits,
    /// Shortest phase-slew duration, s: long enough to keep the frequency excursion
    /// small, short compared with the poll interval.
    pub min_slew_time: f64,
    /// Booked commands the clock has not answered yet: (booking id, command).
    unconfirmed: VecDeque<(u64, ClockCommand)>,
    /// The frequency the clock last confirmed it runs at, ppm.
    clock_ppm: f64,
    /// Refusals in a row (the retry backs off).
    refusals: u32,
}

impl Discipline {
    pub fn new(now: f64, initial_ppm: f64, max_frequency_ppm: f64, limits: ClockLimits) -> Self {
        let max_frequency_ppm = max_frequency_ppm.min(limits.max_drift_ppm);
        let initial_ppm = initial_ppm.clamp(-max_frequency_ppm, max_frequency_ppm);
        Discipline {
            log: CorrectionLog::new(now, initial_ppm * 1e-6),
            phase: Phase::Start,
            base_ppm: initial_ppm,
            slew_ppm: 0.0,
            slew_end: None,
            spike_since: None,
            converged: false,
            observe_only: false,
            updates: 0,
            last_offset: 0.0,
            clk_jitter: 0.0,
            clk_wander: 0.0,
            steps: 0,
            stepped: 0.0,
            max_frequency_ppm,
            limits,
            min_slew_time: 16.0,
            unconfirmed: VecDeque::new(),
            clock_ppm: 0.0,
            refusals: 0,
        }
    }

    /// The frequency command for the start (the drift file's value, within the limits),
    /// booked from engine creation on.
    pub fn initial_command(&mut self) -> ClockCommand {
        let cmd = ClockCommand::SetFrequency { ppm: self.base_ppm };
        self.expect(self.log.last_id(), cmd);
        cmd
    }

    /// Remember a booked command until the clock answers.
    fn expect(&mut self, id: u64, cmd: ClockCommand) {
        if self.unconfirmed.len() == MAX_UNCONFIRMED {
            if let Some((_, ClockCommand::SetFrequency { ppm })) = self.unconfirmed.pop_front() {
                self.clock_ppm = ppm;
            }
        }
        self.unconfirmed.push_back((id, cmd));
    }

    /// The clock's answer to a command: `applied` is what it did (a frequency rounded to
    /// its resolution), `None` a refusal. The books are amended to what happened: a
    /// refused frequency leaves the clock at its previous one, a refused step never
    /// happened. Returns whether the command was one of ours.
    pub fn clock_result(
        &mut self,
        now: f64,
        requested: &ClockCommand,
        applied: Option<&ClockCommand>,
    ) -> bool {
        let Some(k) = self.unconfirmed.iter().position(|(_, c)| c == requested) else {
            return false;
        };
        // Earlier commands the driver did not answer for: taken as done.
        for (_, c) in self.unconfirmed.drain(..k) {
            if let ClockCommand::SetFrequency { ppm } = c {
                self.clock_ppm = ppm;
            }
        }
        let (id, cmd) = self.unconfirmed.pop_front().expect("found above");
        match (cmd, applied) {
            (ClockCommand::SetFrequency { ppm }, Some(ClockCommand::SetFrequency { ppm: got })) => {
                self.refusals = 0;
                self.clock_ppm = *got;
                if *got != ppm {
                    self.log.amend(id, Some(got * 1e-6), None);
                }
            }
            (ClockCommand::SetFrequency { ppm }, None) => {
                self.log.amend(id, Some(self.clock_ppm * 1e-6), None);
                // The clock takes less than it declared: plan within half of what it
                // refused from now on (never below what normal running needs).
                let floor = 2.0 * self.max_frequency_ppm;
                if ppm.abs() > floor {
                    self.limits.max_frequency_ppm = self
                        .limits
                        .max_frequency_ppm
                        .min((ppm.abs() / 2.0).max(floor));
                }
                // Whatever the plan was, it is off: ask for the drift compensation again
                // soon; the next update plans the phase correction afresh.
                let delay = (FIRST_RETRY * 2f64.powi(self.refusals.min(16) as i32)).min(MAX_RETRY);
                self.refusals += 1;
                self.slew_ppm = 0.0;
                self.slew_end = Some(now + delay);
            }
            (ClockCommand::Step { offset }, None) => {
                self.log.amend(id, None, Some(0.0));
                self.steps = self.steps.saturating_sub(1);
                self.stepped -= offset;
            }
            _ => {}
        }
        true
    }

    /// The estimated offset of the clock now (true − clock), given the raw estimate.
    pub fn clock_offset(&self, now: f64, raw_offset: f64) -> f64 {
        raw_offset - self.log.at(now)
    }

    /// End a finished slew.
    pub fn timer(&mut self, now: f64) -> Vec<ClockCommand> {
        match self.slew_end {
            Some(end) if end <= now + 1e-6 => {
                self.slew_end = None;
                self.slew_ppm = 0.0;
                let id = self.log.change(now.max(end), self.base_ppm * 1e-6, 0.0);
                let cmd = ClockCommand::SetFrequency { ppm: self.base_ppm };
                self.expect(id, cmd);
                vec![cmd]
            }
            _ => vec![],
        }
    }

    /// A new combined estimate is in: decide what to do with the clock.
    pub fn update(
        &mut self,
        now: f64,
        est: Combined,
        policy: &StepPolicy,
        max_slew_ppm: f64,
        initial_slew_ppm: f64,
    ) -> Decision {
        let offset = self.clock_offset(now, est.raw_offset);
        let first = self.phase == Phase::Start;
        let abs = offset.abs();
        if policy.panic_threshold > 0.0
            && abs > policy.panic_threshold
            && !(first && policy.allow_first_panic)
        {
            return Decision::Panic(offset);
        }
        if self.observe_only {
            self.base_ppm =
                (est.frequency * 1e6).clamp(-self.max_frequency_ppm, self.max_frequency_ppm);
            self.last_offset = offset;
            self.phase = Phase::Running;
            return Decision::Adjust(Vec::new());
        }
        let threshold = policy.threshold_for(offset);
        // -G: the first correction steps, whatever the thresholds say
        let stepping = (threshold > 0.0 && abs > threshold) || (first && policy.force_first_step);
        let mut commands = Vec::new();
        let new_base = (est.frequency * 1e6).clamp(-self.max_frequency_ppm, self.max_frequency_ppm);
        let wander = new_base - self.base_ppm;
        if !first {
            self.clk_wander += (wander * wander - self.clk_wander) / 8.0;
        }
        self.base_ppm = new_base;
        if stepping && first {
            commands.push(self.step(now, offset));
        } else if stepping {
            let since = *self.spike_since.get_or_insert(now);
            if now - since < policy.stepout {
                return Decision::Spike;
            }
            self.spike_since = None;
            if offset > 0.0 && policy.step_after_start {
                // Forward only: time never runs backwards in normal operation.
                commands.push(self.step(now, offset));
            } else {
                commands.push(self.slew(now, offset, max_slew_ppm));
            }
        } else {
            self.spike_since = None;
            let rate = if self.converged {
                max_slew_ppm
            } else {
                initial_slew_ppm
            };
            commands.push(self.slew(now, offset, rate));
        }
        let jitter_sample = offset - self.last_offset;
        self.clk_jitter += (jitter_sample * jitter_sample - self.clk_jitter) / 8.0;
        self.last_offset = offset;
        self.phase = Phase::Running;
        self.updates = self.updates.saturating_add(1);
        if abs < CONVERGED.max(3.0 * est.offset_var.sqrt()) || self.updates >= 8 {
            self.converged = true;
        }
        Decision::Adjust(commands)
    }

    fn step(&mut self, now: f64, offset: f64) -> ClockCommand {
        self.steps += 1;
        self.stepped += offset;
        self.slew_ppm = 0.0;
        self.slew_end = None;
        // The clock jumps by `offset`; the engine's time base absorbs it (see Engine), so
        // on the engine time line the correction simply jumps.
        let id = self.log.change(now, self.base_ppm * 1e-6, offset);
        let cmd = ClockCommand::Step { offset };
        self.expect(id, cmd);
        cmd
    }

    /// Start removing `offset` by running fast (or slow) for a while.
    fn slew(&mut self, now: f64, offset: f64, max_rate_ppm: f64) -> ClockCommand {
        let min_time = if self.converged {
            self.min_slew_time
        } else {
            0.0
        };
        // Within what the clock accepts: the slew adds to the drift compensation, so a
        // drift of the slew's sign leaves less room.
        let headroom = self.limits.max_frequency_ppm - self.base_ppm * offset.signum();
        let max_rate_ppm = max_rate_ppm.min(headroom).max(1.0);
        let duration = (offset.abs() / (max_rate_ppm * 1e-6))
            .max(min_time)
            .max(1e-3);
        let max_total = self.limits.max_frequency_ppm;
        let total = (self.base_ppm + offset / duration * 1e6).clamp(-max_total, max_total);
        self.slew_ppm = total - self.base_ppm;
        // Durations here are on the clock's own time line, which itself runs at the
        // corrected rate: the slew removes (per_clock(total) − per_clock(base)) each
        // clock second.
        let extra = per_clock_second(total * 1e-6) - per_clock_second(self.base_ppm * 1e-6);
        let clock_duration = if extra != 0.0 { offset / extra } else { 0.0 };
        self.slew_end = Some(now + clock_duration.max(0.0));
        let id = self.log.change(now, total * 1e-6, 0.0);
        let cmd = ClockCommand::SetFrequency { ppm: total };
        self.expect(id, cmd);
        cmd
    }

    /// The clock cannot be adjusted (`--observe-only`, no privileges, EPERM): from `now` on no
    /// correction is booked, so raw offsets stay consistent and the estimated offset and
    /// frequency are what the clock would need.
    pub fn set_observe_only(&mut self, now: f64) {
        if !self.observe_only {
            self.observe_only = true;
            self.slew_end = None;
            self.slew_ppm = 0.0;
            self.log.change(now, 0.0, 0.0);
            self.unconfirmed.clear();
        }
    }

    pub fn is_observe_only(&self) -> bool {
        self.observe_only
    }

    /// Drift compensation to persist in the drift file, ppm.
    pub fn frequency_ppm(&self) -> f64 {
        self.base_ppm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correction_log_integrates_rates_and_jumps() {
        let mut log = CorrectionLog::new(0.0, 1e-5);
        assert!((log.at(100.0) - 1e-3).abs() < 1e-8);
        log.change(100.0, 0.0, 0.5);
        assert!((log.at(200.0) - 0.501).abs() < 1e-8);
        // History is kept for samples taken before the change.
        assert!((log.at(50.0) - 5e-4).abs() < 1e-8);
    }

    fn est(raw: f64) -> Combined {
        Combined {
            raw_offset: raw,
            frequency: -10e-6,
            offset_var: 1e-10,
        }
    }

    #[test]
    fn first_update_steps_beyond_threshold_later_only_forward_after_stepout() {
        let p = StepPolicy::default();
        let mut d = Discipline::new(0.0, 0.0, 500.0, ClockLimits::LINUX);
        match d.update(10.0, est(0.5), &p, 500.0, 50_000.0) {
            Decision::Adjust(c) => assert_eq!(c[0], ClockCommand::Step { offset: 0.5 }),
            other => panic!("{other:?}"),
        }
        // Later, a large negative offset is never stepped: spike, then slewed.
        let raw = d.log.at(100.0) - 0.3;
        assert_eq!(
            d.update(100.0, est(raw), &p, 500.0, 50_000.0),
            Decision::Spike
        );
        let raw = d.log.at(500.0) - 0.3;
        match d.update(500.0, est(raw), &p, 500.0, 50_000.0) {
            Decision::Adjust(c) => {
                assert!(matches!(c[0], ClockCommand::SetFrequency { ppm } if ppm < -400.0))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.steps, 1);
    }

    #[test]
    fn panic_threshold_stops_unless_first_and_allowed() {
        let mut p = StepPolicy::default();
        let mut d = Discipline::new(0.0, 0.0, 500.0, ClockLimits::LINUX);
        assert_eq!(
            d.update(1.0, est(2000.0), &p, 500.0, 5e4),
            Decision::Panic(2000.0)
        );
        p.allow_first_panic = true;
        assert!(matches!(
            d.update(1.0, est(2000.0), &p, 500.0, 5e4),
            Decision::Adjust(_)
        ));
    }

    #[test]
    fn force_first_step_steps_the_first_correction_only_and_keeps_the_panic_check() {
        let p = StepPolicy {
            force_first_step: true,
            // with stepping disabled as well: -G still steps once (ntpd's force_step_once)
            step_threshold: 0.0,
            ..StepPolicy::default()
        };
        let mut d = Discipline::new(0.0, 0.0, 500.0, ClockLimits::LINUX);
        // 2 ms, well below the 128 ms threshold, and backwards: stepped all the same
        match d.update(10.0, est(-0.002), &p, 500.0, 50_000.0) {
            Decision::Adjust(c) => assert_eq!(c, vec![ClockCommand::Step { offset: -0.002 }]),
            other => panic!("{other:?}"),
        }
        // the next correction is slewed as usual
        let raw = d.log.at(100.0) + 0.002;
        match d.update(100.0, est(raw), &p, 500.0, 50_000.0) {
            Decision::Adjust(c) => {
                assert!(
                    matches!(c[..], [ClockCommand::SetFrequency { .. }]),
                    "{c:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.steps, 1);
        // -G alone does not lift the panic threshold (that is -g)
        let mut d = Discipline::new(0.0, 0.0, 500.0, ClockLimits::LINUX);
        assert_eq!(
            d.update(1.0, est(2000.0), &p, 500.0, 5e4),
            Decision::Panic(2000.0)
        );
    }

    #[test]
    fn slew_removes_exactly_the_offset_then_returns_to_drift() {
        let p = StepPolicy::default();
        let mut d = Discipline::new(0.0, 0.0, 500.0, ClockLimits::LINUX);
        d.update(0.0, est(0.01), &p, 500.0, 50_000.0);
        let end = d.slew_end.unwrap();
        let cmds = d.timer(end);
        assert_eq!(cmds, vec![ClockCommand::SetFrequency { ppm: -10.0 }]);
        // Phase correction complete: the correction equals the offset plus drift.
        assert!((d.log.at(end) - (0.01 - 10e-6 * end)).abs() < 1e-9);
    }
}

#[cfg(test)]
mod observe_tests {
    use super::*;

    #[test]
    fn observe_only_books_nothing_and_reports_the_needed_correction() {
        let p = StepPolicy::default();
        let mut d = Discipline::new(0.0, 5.0, 500.0, ClockLimits::LINUX);
        d.set_observe_only(1.0);
        let a = d.log.at(1.0);
        assert_eq!(
            d.update(10.0, est(a + 0.3), &p, 500.0, 5e4),
            Decision::Adjust(vec![])
        );
        assert_eq!(d.log.at(1000.0), a);
        assert!((d.last_offset - 0.3).abs() < 1e-12);
        assert_eq!(d.frequency_ppm(), -10.0);
        assert_eq!(d.steps, 0);
    }

    fn est(raw: f64) -> Combined {
        Combined {
            raw_offset: raw,
            frequency: -10e-6,
            offset_var: 1e-10,
        }
    }
}
