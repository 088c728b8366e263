// Package bench measures hubsend on one machine: the pipeline from a
// Contacthub change to the Contactsend write, what each change costs in
// Contactsend, Contacthub, DynamoDB and SQS requests, the worker's memory,
// and whether a sync survives load and faults without losing or duplicating
// anything.
//
// A Harness runs the real sync worker against the DynamoDB and SQS
// emulators and the Contacthub and Contactsend simulators. Its DynamoDB and
// SQS clients are wrapped in counting decorators, so request counts come
// from the very calls the worker makes. Only tests and benchmarks use it.
package bench
