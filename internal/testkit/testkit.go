// Package testkit is what hubsend's tests share: a clock that moves only
// when told, a log capture behind an *slog.Logger, a fixed master key, and
// the local AWS emulators, started once per test binary by the first test
// that asks for them.
//
// Tests of pure logic use the clock, the logs and the keys and never start
// a process; only a call to Emulators (or Table, Queues) starts dynalite and
// fauxqs. No TestMain is needed: the emulators run until the test binary
// exits and die with it (see Emulators).
//
// Only tests import this package; no code that ships in a Lambda may link it
// (internal/wiring's TestFunctionsLinkOnlyWhatTheyUse checks).
package testkit
