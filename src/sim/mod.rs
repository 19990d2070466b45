//! Oscillator and network models that drive the engine in virtual time.
