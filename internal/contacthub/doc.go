// Package contacthub is a client for Contactlab's Contacthub REST API v1: the
// customers of a workspace and their subscriptions, the change feed
// (GET /updates), nodes and the customer property model.
//
// The client speaks the published contract (Swagger 1.51 plus the behaviour of
// the live service where the two disagree, e.g. the subscription flag is
// "subscribed", not the spec's "enable"). It retries transient failures with
// internal/retry and reports failures as *Error, which matches the sentinel
// errors below with errors.Is.
package contacthub
