//! ntpd's I/O around the engine: sockets, server replies, restrict and KoD, mode 6, stats,
//! signals, pidfile.
