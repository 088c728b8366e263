// Package hubsim is a stateful simulator of Contactlab's Contacthub REST API
// v1, faithful to the published contract: the same paths under
// /hub/v1/workspaces/{workspaceId}, bodies, status codes, error bodies
// ({message, logref, data, errors[]}), paging, +0000 timestamps and UUID
// customer ids. It keeps customers per workspace and node, enforces the
// node-scoped uniqueness of base.contacts.email and externalId, validates
// base and extended properties against the workspace's JSON schemas, and
// records every change in the GET /updates feed. Listing customers is a
// search, as in Contacthub: with Options.SearchIndexDelay a created or
// changed customer reaches GET /customers only after that delay, while
// reads by id and the uniqueness checks see it at once.
//
// Tests and demos drive it through an admin surface under /_sim/ (or the
// equivalent Go methods): reset and load seeds, edit customers as a person
// in the Contacthub UI would, inject faults (internal/simulators/faults) and read the
// call log. It is for tests, the local stack and benchmarks; shipped code
// never imports it.
package hubsim
