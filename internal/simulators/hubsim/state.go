package hubsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Error is a failure as the service reports it: a status and the
// {message, logref, data, errors[]} body.
type Error struct {
	Status  int
	Message string
	Data    any
	Errors  []FieldError
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("hubsim: %d %s", e.Status, e.Message)
	for _, fe := range e.Errors {
		msg += fmt.Sprintf("; %s: %s", fe.Path, fe.Message)
	}
	return msg
}

func invalid(message string, errs []FieldError) *Error {
	if errs == nil {
		errs = []FieldError{}
	}
	return &Error{Status: http.StatusBadRequest, Message: message, Errors: errs}
}

func notFound(message string) *Error {
	return &Error{Status: http.StatusNotFound, Message: message}
}

// messageInvalidCustomer is the service's message for a rejected customer body.
const messageInvalidCustomer = "source customer is not valid"

// workspace is the state of one workspace. Its methods run under the
// server's lock.
type workspace struct {
	id             string
	tokens         []string
	entries        []NodeSeed
	aggregates     []AggregateNodeSeed
	baseSchema     map[string]any
	baseText       string
	baseProperties []BaseProperty
	extendedSchema map[string]any // nil: no extended properties
	extendedText   string
	customers      map[string]map[string]any
	order          []string // customer ids, oldest first
	// unique holds, by uniqueKeys, the ids of the customers holding each
	// node's unique values, so that a write's conflict check does not
	// read the whole workspace (a bulk load's demo holds 200,000).
	unique map[string][]string
	// search is each customer as the search index behind GET /customers
	// holds it, which lags writes by the search index delay.
	search    map[string]indexEntry
	updates   []UpdateRecord
	lastStamp time.Time
	// listGen counts writes to the search index; listCache holds listings
	// computed at a generation (see listCustomers).
	listGen   uint64
	listCache map[string]listResult
	// shapeGen counts creations and deletions: a listing unfiltered and
	// sorted on values no write changes stays valid across other writes.
	shapeGen uint64
}

// listResult is a filtered, sorted listing of customers, by id.
type listResult struct {
	gen, shape uint64
	// stable says the listing depends only on which customers exist: no
	// filter, and sorted on values a write cannot change.
	stable     bool
	ids        []string
	unfiltered int
}

// valid reports whether the listing still holds in ws.
func (l listResult) valid(ws *workspace) bool {
	return l.gen == ws.listGen || l.stable && l.shape == ws.shapeGen
}

// world is the simulator's state apart from faults and the call log.
type world struct {
	workspaces map[string]*workspace
	tokens     map[string]string // token → workspace id
	rng        *rand.Rand
	clock      func() time.Time
	// indexDelay is how long a written customer takes to reach search
	// results; nil means no delay.
	indexDelay func() time.Duration
}

// indexEntry is one customer in the search index: the document searches
// see and, while indexing lags, the newer version waiting to replace it.
type indexEntry struct {
	indexed   map[string]any // nil: not indexed yet (a new customer)
	pending   map[string]any // nil: nothing waiting
	pendingAt time.Time      // when pending was written, by the clock
}

// view is the document searches see at now: nil while a new customer is
// not indexed yet, the previous version while a change is not.
func (e indexEntry) view(now time.Time, delay time.Duration) map[string]any {
	if e.pending != nil && (delay <= 0 || !now.Before(e.pendingAt.Add(delay))) {
		return e.pending
	}
	return e.indexed
}

func (w *world) searchDelay() time.Duration {
	if w.indexDelay == nil {
		return 0
	}
	return w.indexDelay()
}

// searchable returns customer id as GET /customers sees it now, or nil.
func (w *world) searchable(ws *workspace, id string) map[string]any {
	return ws.search[id].view(w.clock(), w.searchDelay())
}

// index queues doc for the search index. Seeded customers are indexed
// already; written ones become searchable after the delay.
func (w *world) index(ws *workspace, id string, doc map[string]any, seeded bool) {
	ws.listGen++
	if seeded {
		ws.search[id] = indexEntry{indexed: doc}
		return
	}
	now := w.clock()
	e := ws.search[id]
	e.indexed = e.view(now, w.searchDelay())
	e.pending, e.pendingAt = doc, now
	ws.search[id] = e
}

// build turns a seed into a world.
func build(seed Seed, rng *rand.Rand, clock func() time.Time) (*world, error) {
	w := &world{workspaces: map[string]*workspace{}, tokens: map[string]string{}, rng: rng, clock: clock}
	for _, ws := range seed.Workspaces {
		if ws.ID == "" {
			return nil, fmt.Errorf("a workspace has no id")
		}
		if w.workspaces[ws.ID] != nil {
			return nil, fmt.Errorf("workspace %s appears twice", ws.ID)
		}
		state, err := w.buildWorkspace(ws)
		if err != nil {
			return nil, fmt.Errorf("workspace %s: %w", ws.ID, err)
		}
		w.workspaces[ws.ID] = state
	}
	return w, nil
}

func (w *world) buildWorkspace(seed WorkspaceSeed) (*workspace, error) {
	ws := &workspace{id: seed.ID, tokens: slices.Clone(seed.Tokens), customers: map[string]map[string]any{}, search: map[string]indexEntry{}, unique: map[string][]string{}}
	for _, t := range seed.Tokens {
		if t == "" {
			return nil, fmt.Errorf("empty token")
		}
		if other, taken := w.tokens[t]; taken {
			return nil, fmt.Errorf("a token is shared with workspace %s", other)
		}
		w.tokens[t] = seed.ID
	}
	ids := map[string]bool{}
	for _, n := range seed.EntryNodes {
		if n.ID == "" || ids[n.ID] {
			return nil, fmt.Errorf("entry node id %q is empty or repeated", n.ID)
		}
		ids[n.ID] = true
		ws.entries = append(ws.entries, n)
	}
	for _, a := range seed.AggregateNodes {
		if a.ID == "" || ids[a.ID] {
			return nil, fmt.Errorf("aggregate node id %q is empty or repeated", a.ID)
		}
		for _, m := range a.EntryNodes {
			if !ws.isEntry(m) {
				return nil, fmt.Errorf("aggregate node %s lists %s, which is not an entry node", a.ID, m)
			}
		}
		ids[a.ID] = true
		a.EntryNodes = slices.Clone(a.EntryNodes)
		ws.aggregates = append(ws.aggregates, a)
	}
	var err error
	if len(seed.BaseSchema) == 0 {
		ws.baseSchema = StandardBaseSchema()
	} else if ws.baseSchema, err = decodeMap(seed.BaseSchema); err != nil {
		return nil, fmt.Errorf("base schema: %w", err)
	}
	ws.baseText = string(mustJSON(ws.baseSchema))
	if len(seed.ExtendedSchema) > 0 {
		if ws.extendedSchema, err = decodeMap(seed.ExtendedSchema); err != nil {
			return nil, fmt.Errorf("extended schema: %w", err)
		}
		ws.extendedText = string(mustJSON(ws.extendedSchema))
	}
	ws.baseProperties = baseProperties(ws.baseSchema, seed.BaseProperties)
	for i, raw := range seed.Customers {
		doc, err := decodeMap(raw)
		if err != nil {
			return nil, fmt.Errorf("customer %d: %w", i, err)
		}
		if _, err := w.putCustomer(ws, doc, false); err != nil {
			return nil, fmt.Errorf("customer %d: %w", i, err)
		}
	}
	for _, u := range seed.Updates {
		if n := len(ws.updates); n > 0 && u.Offset <= ws.updates[n-1].Offset {
			return nil, fmt.Errorf("update offsets must increase (%d)", u.Offset)
		}
		ws.updates = append(ws.updates, u)
		if u.At.After(ws.lastStamp) {
			ws.lastStamp = u.At
		}
	}
	return ws, nil
}

// baseProperties lists the top-level base properties with the seed's
// enabled flags.
func baseProperties(schema map[string]any, settings []BaseProperty) []BaseProperty {
	props, _ := schema["properties"].(map[string]any)
	enabled := map[string]bool{}
	for _, s := range settings {
		enabled[s.Name] = s.Enabled
	}
	var out []BaseProperty
	for _, name := range slices.Sorted(maps.Keys(props)) {
		p := BaseProperty{Name: name, Enabled: true}
		if sub, ok := props[name].(map[string]any); ok {
			p.Description, _ = sub["description"].(string)
			if p.Description == "" {
				if cp, ok := sub["contactlabProperties"].(map[string]any); ok {
					p.Description, _ = cp["label"].(string)
				}
			}
		}
		if e, ok := enabled[name]; ok {
			p.Enabled = e
		}
		out = append(out, p)
	}
	return out
}

func (ws *workspace) isEntry(id string) bool {
	for _, n := range ws.entries {
		if n.ID == id {
			return true
		}
	}
	return false
}

func (ws *workspace) aggregate(id string) (AggregateNodeSeed, bool) {
	for _, a := range ws.aggregates {
		if a.ID == id {
			return a, true
		}
	}
	return AggregateNodeSeed{}, false
}

// members returns the entry nodes whose customers a node shows, or false
// when the node does not exist.
func (ws *workspace) members(nodeID string) ([]string, bool) {
	if ws.isEntry(nodeID) {
		return []string{nodeID}, true
	}
	if a, ok := ws.aggregate(nodeID); ok {
		return a.EntryNodes, true
	}
	return nil, false
}

// stamp returns the time of a change: now, but always after the previous
// change, so updatedAt advances on every change even within a millisecond.
func (w *world) stamp(ws *workspace) time.Time {
	now := w.clock().UTC().Truncate(time.Millisecond)
	if !now.After(ws.lastStamp) {
		now = ws.lastStamp.Add(time.Millisecond)
	}
	ws.lastStamp = now
	return now
}

// record appends a change to the feed.
func (w *world) record(ws *workspace, operation string, doc map[string]any, at time.Time) {
	var offset int64 = 1
	if n := len(ws.updates); n > 0 {
		offset = ws.updates[n-1].Offset + 1
	}
	nodeID, _ := doc["nodeId"].(string)
	ws.updates = append(ws.updates, UpdateRecord{
		Offset: offset, At: at, Operation: operation, Entity: "CUSTOMER", NodeID: nodeID, Data: clone(doc).(map[string]any),
	})
}

// Customer operations. Modes say which body shape a request carries.
type mode int

const (
	modeCreate mode = iota
	modePut
	modePatch
)

var readOnlyMembers = []string{"id", "registeredAt", "updatedAt", "sourceInfo"}

// validateCustomer checks a customer document (a POST or PUT body, or a
// customer with a PATCH applied) and normalises it in place.
func (ws *workspace) validateCustomer(doc map[string]any, m mode) *Error {
	v := &validator{}
	for name, value := range doc {
		path := "/" + name
		switch name {
		case "id", "registeredAt", "updatedAt", "sourceInfo":
		case "nodeId":
			if s, ok := value.(string); !ok || s == "" {
				v.fail(path, "nodeId must be a non-empty string")
			}
		case "externalId", "extra":
			if _, ok := value.(string); !ok && value != nil {
				v.fail(path, "expected string or null, found %s", jsonKind(value))
			}
		case "enabled":
			if _, ok := value.(bool); !ok && value != nil {
				v.fail(path, "expected boolean or null, found %s", jsonKind(value))
			}
		case "consents":
			if _, ok := value.(map[string]any); !ok && value != nil {
				v.fail(path, "expected object or null, found %s", jsonKind(value))
			}
		case "tags":
			doc[name] = v.check(tagsSchema(), value, path)
		case "base":
			if _, ok := value.(map[string]any); !ok {
				if value != nil {
					v.fail(path, "expected object or null, found %s", jsonKind(value))
				}
				continue
			}
			doc[name] = v.check(ws.baseSchema, value, path)
		case "extended":
			if _, ok := value.(map[string]any); !ok {
				if value != nil {
					v.fail(path, "expected object or null, found %s", jsonKind(value))
				}
				continue
			}
			schema := ws.extendedSchema
			if schema == nil {
				schema = map[string]any{"type": "object", "additionalProperties": false}
			}
			doc[name] = v.check(schema, value, path)
		default:
			v.fail(path, "property %s is not allowed", name)
		}
	}
	if m != modePatch {
		if _, ok := doc["nodeId"]; !ok {
			v.fail("/nodeId", "nodeId is required")
		}
	}
	if len(v.errs) > 0 {
		return invalid(messageInvalidCustomer, v.errs)
	}
	return nil
}

func tagsSchema() map[string]any {
	list := map[string]any{"type": []any{"array", "null"}, "items": map[string]any{"type": "string"}}
	return map[string]any{
		"type": []any{"object", "null"}, "additionalProperties": false,
		"properties": map[string]any{"auto": list, "manual": list},
	}
}

// conflict returns the id of another customer of the node with the same
// email (case-insensitive) or externalId.
func (ws *workspace) conflict(doc map[string]any, exceptID string) string {
	var found string
	for _, key := range uniqueKeys(doc) {
		for _, id := range ws.unique[key] {
			// Several may hold a value (seeds are not checked): the
			// oldest is the one the service names.
			if id != exceptID && (found == "" || ws.older(id, found)) {
				found = id
			}
		}
	}
	return found
}

// uniqueKeys are the keys of a customer's unique values in
// workspace.unique: the e-mail (case-insensitive) and the external id,
// within the customer's node.
func uniqueKeys(doc map[string]any) []string {
	nodeID, _ := doc["nodeId"].(string)
	var keys []string
	if email := strings.ToLower(stringAt(doc, "base.contacts.email")); email != "" {
		keys = append(keys, nodeID+"\x00email\x00"+email)
	}
	if externalID := stringAt(doc, "externalId"); externalID != "" {
		keys = append(keys, nodeID+"\x00external\x00"+externalID)
	}
	return keys
}

// keepUnique moves a customer's entries in workspace.unique from its
// previous state (nil: none) to its new one (nil: deleted).
func (ws *workspace) keepUnique(id string, prev, next map[string]any) {
	for _, key := range uniqueKeys(prev) {
		if ids := slices.DeleteFunc(ws.unique[key], func(x string) bool { return x == id }); len(ids) > 0 {
			ws.unique[key] = ids
		} else {
			delete(ws.unique, key)
		}
	}
	for _, key := range uniqueKeys(next) {
		if !slices.Contains(ws.unique[key], id) {
			ws.unique[key] = append(ws.unique[key], id)
		}
	}
}

// older reports whether customer a was created before customer b.
func (ws *workspace) older(a, b string) bool {
	return slices.Index(ws.order, a) < slices.Index(ws.order, b)
}

func conflictError(ws *workspace, id, baseURL string) *Error {
	return &Error{
		Status:  http.StatusConflict,
		Message: "Conflict with exiting customer " + id, // sic: the service's spelling
		Data: map[string]any{"customer": map[string]any{
			"id": id, "href": baseURL + "/hub/v1/workspaces/" + ws.id + "/customers/" + id,
		}},
	}
}

// putCustomer validates doc and stores it as a new customer or a full
// replacement of doc["id"]. checkUnique is false only while loading seeds
// and state files written by the simulator itself, which conflicts would
// have stopped already. It returns the stored customer.
func (w *world) putCustomer(ws *workspace, doc map[string]any, checkUnique bool) (map[string]any, *Error) {
	return w.store(ws, doc, modePut, checkUnique, "")
}

// store is the one place customers are written.
func (w *world) store(ws *workspace, doc map[string]any, m mode, checkUnique bool, baseURL string) (map[string]any, *Error) {
	if err := ws.validateCustomer(doc, m); err != nil {
		return nil, err
	}
	nodeID, _ := doc["nodeId"].(string)
	if !ws.isEntry(nodeID) {
		if _, isAggregate := ws.aggregate(nodeID); isAggregate {
			return nil, invalid(messageInvalidCustomer, []FieldError{{Path: "/nodeId", Message: "node " + nodeID + " is an aggregate node: customers are written to entry nodes"}})
		}
		return nil, notFound("node not found " + nodeID)
	}
	id, _ := doc["id"].(string)
	prev := ws.customers[id]
	if prev != nil && prev["nodeId"] != nodeID {
		return nil, invalid(messageInvalidCustomer, []FieldError{{Path: "/nodeId", Message: "the node of a customer cannot be changed"}})
	}
	if checkUnique {
		if other := ws.conflict(doc, id); other != "" {
			return nil, conflictError(ws, other, baseURL)
		}
	}
	seeding := !checkUnique
	var at time.Time
	if seeding {
		// Seeded customers bring their own times and are not changes.
		at = w.clock().UTC().Truncate(time.Millisecond)
	} else {
		at = w.stamp(ws)
	}
	if id == "" {
		id = newUUID(w.rng)
	}
	out := map[string]any{"id": id, "nodeId": nodeID}
	for _, name := range []string{"externalId", "extra", "base", "extended", "consents", "tags"} {
		out[name] = clone(doc[name])
	}
	out["enabled"] = true
	if e, ok := doc["enabled"].(bool); ok {
		out["enabled"] = e
	}
	if base, ok := out["base"].(map[string]any); ok {
		var prevBase map[string]any
		if prev != nil {
			prevBase, _ = prev["base"].(map[string]any)
		}
		stampSubscriptions(prevBase, base, formatTime(at))
		fillNulls(ws.baseSchema, base)
	}
	switch {
	case prev != nil:
		out["registeredAt"] = prev["registeredAt"]
	case seeding && doc["registeredAt"] != nil:
		out["registeredAt"] = normalTime(doc["registeredAt"], at)
	default:
		out["registeredAt"] = formatTime(at)
	}
	out["updatedAt"] = formatTime(at)
	if seeding && doc["updatedAt"] != nil {
		out["updatedAt"] = normalTime(doc["updatedAt"], at)
	}
	if seeding {
		if t, ok := parseTime(out["updatedAt"].(string)); ok && t.After(ws.lastStamp) {
			ws.lastStamp = t
		}
	}
	ws.keepUnique(id, prev, out)
	ws.customers[id] = out
	w.index(ws, id, out, seeding)
	if prev == nil {
		ws.order = append(ws.order, id)
		ws.shapeGen++
	}
	if !seeding {
		op := "UPDATE"
		if prev == nil {
			op = "CREATE"
		}
		w.record(ws, op, out, at)
	}
	return clone(out).(map[string]any), nil
}

func normalTime(v any, fallback time.Time) string {
	if s, ok := v.(string); ok {
		if t, ok := parseTime(s); ok {
			return formatTime(t)
		}
	}
	return formatTime(fallback)
}

// stampSubscriptions sets a subscription's registeredAt when it first
// appears and its updatedAt when its content changes, unless the caller
// set them.
func stampSubscriptions(prevBase, base map[string]any, now string) {
	subs, _ := base["subscriptions"].([]any)
	var prevSubs []any
	if prevBase != nil {
		prevSubs, _ = prevBase["subscriptions"].([]any)
	}
	for _, raw := range subs {
		sub, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		var old map[string]any
		for _, p := range prevSubs {
			if ps, ok := p.(map[string]any); ok && ps["id"] == sub["id"] {
				old = ps
				break
			}
		}
		if sub["registeredAt"] == nil {
			sub["registeredAt"] = now
			if old != nil && old["registeredAt"] != nil {
				sub["registeredAt"] = old["registeredAt"]
			}
		}
		switch {
		case old == nil:
			if sub["updatedAt"] == nil {
				sub["updatedAt"] = now
			}
		case sub["updatedAt"] == nil || sub["updatedAt"] == old["updatedAt"]:
			if subscriptionChanged(old, sub) {
				sub["updatedAt"] = now
			} else {
				sub["updatedAt"] = old["updatedAt"]
			}
		}
	}
}

func subscriptionChanged(a, b map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		c := maps.Clone(m)
		delete(c, "registeredAt")
		delete(c, "updatedAt")
		for k, v := range c {
			if v == nil {
				delete(c, k)
			}
		}
		return c
	}
	return !reflect.DeepEqual(normalise(strip(a)), normalise(strip(b)))
}

// normalise makes decoded JSON comparable with reflect.DeepEqual whatever
// produced it (json.Number vs float64 and the like).
func normalise(v any) any {
	var out any
	_ = json.Unmarshal(mustJSON(v), &out)
	return out
}

// createCustomer handles POST /customers.
func (w *world) createCustomer(ws *workspace, doc map[string]any, baseURL string) (map[string]any, *Error) {
	for _, name := range readOnlyMembers {
		delete(doc, name)
	}
	return w.store(ws, doc, modeCreate, true, baseURL)
}

// replaceCustomer handles PUT /customers/{id}.
func (w *world) replaceCustomer(ws *workspace, id string, doc map[string]any, baseURL string) (map[string]any, *Error) {
	if ws.customers[id] == nil {
		return nil, notFound("customer not found " + id)
	}
	for _, name := range readOnlyMembers {
		delete(doc, name)
	}
	if _, ok := doc["nodeId"]; !ok {
		// PUT bodies carry nodeId; tolerate its absence by keeping the node.
		doc["nodeId"] = ws.customers[id]["nodeId"]
	}
	doc["id"] = id
	return w.store(ws, doc, modePut, true, baseURL)
}

// patchCustomer handles PATCH /customers/{id}: objects merge member by
// member, arrays and scalars replace, null clears.
func (w *world) patchCustomer(ws *workspace, id string, patch map[string]any, baseURL string) (map[string]any, *Error) {
	prev := ws.customers[id]
	if prev == nil {
		return nil, notFound("customer not found " + id)
	}
	for _, name := range readOnlyMembers {
		delete(patch, name)
	}
	if n, ok := patch["nodeId"]; ok && n != prev["nodeId"] {
		return nil, invalid(messageInvalidCustomer, []FieldError{{Path: "/nodeId", Message: "the node of a customer cannot be changed"}})
	}
	// Validate the patch on its own first so errors point at what was sent.
	if err := ws.validateCustomer(clone(patch).(map[string]any), modePatch); err != nil {
		return nil, err
	}
	doc := clone(prev).(map[string]any)
	mergePatch(doc, patch)
	for _, name := range []string{"registeredAt", "updatedAt"} {
		delete(doc, name)
	}
	return w.store(ws, doc, modePut, true, baseURL)
}

func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergePatch(dm, pm)
				continue
			}
		}
		dst[k] = clone(v)
	}
}

// deleteCustomer removes a customer and records the deletion.
func (w *world) deleteCustomer(ws *workspace, id string) *Error {
	doc := ws.customers[id]
	if doc == nil {
		return notFound("customer not found " + id)
	}
	ws.keepUnique(id, doc, nil)
	delete(ws.customers, id)
	delete(ws.search, id)
	ws.listGen++
	ws.shapeGen++
	ws.order = slices.DeleteFunc(ws.order, func(x string) bool { return x == id })
	w.record(ws, "DELETE", doc, w.stamp(ws))
	return nil
}

// subscriptions returns the customer's base.subscriptions, creating the
// path if needed.
func subscriptionsOf(doc map[string]any) []any {
	base, _ := doc["base"].(map[string]any)
	if base == nil {
		return nil
	}
	subs, _ := base["subscriptions"].([]any)
	return subs
}

func findSubscription(doc map[string]any, subID string) (map[string]any, int) {
	for i, raw := range subscriptionsOf(doc) {
		if s, ok := raw.(map[string]any); ok && s["id"] == subID {
			return s, i
		}
	}
	return nil, -1
}

// changeSubscription applies edit to a copy of the customer's
// subscriptions and stores the customer; it returns the subscription after
// the change (nil when removed).
func (w *world) changeSubscription(ws *workspace, customerID, subID string, edit func(subs []any, index int) ([]any, *Error)) (map[string]any, *Error) {
	prev := ws.customers[customerID]
	if prev == nil {
		return nil, notFound("customer not found " + customerID)
	}
	doc := clone(prev).(map[string]any)
	base, _ := doc["base"].(map[string]any)
	if base == nil {
		base = map[string]any{}
		doc["base"] = base
	}
	_, index := findSubscription(doc, subID)
	subs, err := edit(subscriptionsOf(doc), index)
	if err != nil {
		return nil, err
	}
	base["subscriptions"] = subs
	delete(doc, "registeredAt")
	delete(doc, "updatedAt")
	stored, err := w.store(ws, doc, modePut, true, "")
	if err != nil {
		return nil, err
	}
	sub, _ := findSubscription(stored, subID)
	return sub, nil
}

// Helpers over decoded JSON.

func decodeMap(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object, found %s", jsonKind(v))
	}
	return m, nil
}

func clone(v any) any {
	switch val := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(val))
		for k, x := range val {
			out[k] = clone(x)
		}
		return out
	case []any:
		out := make([]any, len(val))
		for i, x := range val {
			out[i] = clone(x)
		}
		return out
	}
	return v
}

func lookup(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func stringAt(doc map[string]any, path string) string {
	v, _ := lookup(doc, path)
	s, _ := v.(string)
	return s
}
