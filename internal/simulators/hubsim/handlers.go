package hubsim

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const maxPageSize = 50

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, ws *workspace) {
	q := r.URL.Query()
	nodeID := q.Get("nodeId")
	if nodeID == "" {
		s.writeError(w, invalid("Required String parameter 'nodeId' is not present", []FieldError{{Path: "nodeId", Message: "nodeId is required"}}))
		return
	}
	members, ok := ws.members(nodeID)
	if !ok {
		s.writeError(w, notFound("node not found "+nodeID))
		return
	}
	page, size, err := paging(q.Get("page"), q.Get("size"), s.pageSize)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var match func(map[string]any) bool
	if raw := q.Get("query"); raw != "" {
		if match, err = parseQuery(raw); err != nil {
			s.writeError(w, err)
			return
		}
	}
	externalID := q.Get("externalId")
	// A large workspace paged through (a bulk load) would be filtered and
	// sorted again for every page: without an index delay the result only
	// changes with a write, so it is kept until the next one, and an
	// unfiltered listing in registration order until a customer comes or
	// goes (the pages read the customers as they are when served).
	cacheKey := strings.Join(append([]string{nodeID, externalID, q.Get("query")}, q["sort"]...), "\x00")
	cacheable := s.world.searchDelay() <= 0
	if hit, ok := ws.listCache[cacheKey]; cacheable && ok && hit.valid(ws) {
		s.writeCustomerPage(w, ws, hit.ids, hit.unfiltered, page, size, q.Get("fields"))
		return
	}
	var selected []map[string]any
	// Listing is a search: it sees the index, not the latest writes.
	unfiltered := 0
	for _, id := range ws.order {
		c := s.world.searchable(ws, id)
		if c == nil || !slices.Contains(members, c["nodeId"].(string)) {
			continue
		}
		unfiltered++
		if externalID != "" && c["externalId"] != externalID {
			continue
		}
		if match != nil && !match(c) {
			continue
		}
		selected = append(selected, c)
	}
	if sorts := q["sort"]; len(sorts) > 0 {
		keys, err := parseSort(sorts)
		if err != nil {
			s.writeError(w, err)
			return
		}
		slices.SortStableFunc(selected, func(a, b map[string]any) int {
			for _, k := range keys {
				av, _ := lookup(a, k.path)
				bv, _ := lookup(b, k.path)
				if c := compareValues(av, bv); c != 0 {
					if k.desc {
						return -c
					}
					return c
				}
			}
			return 0
		})
	}
	ids := make([]string, len(selected))
	for i, c := range selected {
		ids[i], _ = c["id"].(string)
	}
	if cacheable {
		if ws.listCache == nil || len(ws.listCache) > 16 {
			ws.listCache = make(map[string]listResult)
		}
		ws.listCache[cacheKey] = listResult{
			gen: ws.listGen, shape: ws.shapeGen, ids: ids, unfiltered: unfiltered,
			stable: externalID == "" && match == nil && immutableSort(q["sort"]),
		}
	}
	s.writeCustomerPage(w, ws, ids, unfiltered, page, size, q.Get("fields"))
}

// immutableSort reports whether a listing's sort keys are values no write
// changes (its default order, registration, is one).
func immutableSort(sorts []string) bool {
	keys, err := parseSort(sorts)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if k.path != "registeredAt" && k.path != "id" && k.path != "nodeId" {
			return false
		}
	}
	return true
}

// writeCustomerPage writes one page of a listing of customer ids, each
// customer as the search index holds it.
func (s *Server) writeCustomerPage(w http.ResponseWriter, ws *workspace, ids []string, unfiltered, page, size int, fieldList string) {
	var fields []string
	if fieldList != "" {
		fields = strings.Split(fieldList, ",")
	}
	total := len(ids)
	elements := []any{}
	for i := page * size; i < total && i < (page+1)*size; i++ {
		elements = append(elements, project(s.world.searchable(ws, ids[i]), fields))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"elements": elements,
		"page": map[string]any{
			"size": size, "totalElements": total, "totalUnfilteredElements": unfiltered,
			"totalPages": (total + size - 1) / size, "number": page,
		},
	})
}

// paging reads page (0-based) and size (1..50).
func paging(pageText, sizeText string, defaultSize int) (page, size int, err *Error) {
	size = defaultSize
	if pageText != "" {
		p, perr := strconv.Atoi(pageText)
		if perr != nil || p < 0 {
			return 0, 0, invalid("page must be a non-negative integer", []FieldError{{Path: "page", Message: "invalid page " + pageText}})
		}
		page = p
	}
	if sizeText != "" {
		n, serr := strconv.Atoi(sizeText)
		if serr != nil || n < 1 || n > maxPageSize {
			return 0, 0, invalid("size must be between 1 and 50", []FieldError{{Path: "size", Message: "invalid size " + sizeText}})
		}
		size = n
	}
	return page, size, nil
}

// project keeps the id, the node (required in every Customer) and the
// listed dotted paths of a customer.
func project(c map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return c
	}
	out := map[string]any{"id": c["id"], "nodeId": c["nodeId"]}
	for _, f := range fields {
		v, ok := lookup(c, strings.TrimSpace(f))
		if !ok {
			continue
		}
		parts := strings.Split(strings.TrimSpace(f), ".")
		cur := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
	}
	return out
}

type sortKey struct {
	path string
	desc bool
}

func parseSort(values []string) ([]sortKey, *Error) {
	var keys []sortKey
	for _, v := range values {
		field, dir, _ := strings.Cut(v, ",")
		k := sortKey{path: strings.TrimSpace(field)}
		switch strings.ToLower(strings.TrimSpace(dir)) {
		case "", "asc":
		case "desc":
			k.desc = true
		default:
			return nil, invalid("sort direction must be asc or desc", []FieldError{{Path: "sort", Message: "invalid sort " + v}})
		}
		if k.path == "" {
			return nil, invalid("sort needs a field", []FieldError{{Path: "sort", Message: "invalid sort " + v}})
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request, ws *workspace) {
	doc, err := readBody(r, messageInvalidCustomer)
	if err == nil {
		doc, err = s.world.createCustomer(ws, doc, baseURL(r))
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, doc)
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, ws *workspace) {
	id := r.PathValue("id")
	c := ws.customers[id]
	if c == nil {
		s.writeError(w, notFound("customer not found "+id))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) putCustomer(w http.ResponseWriter, r *http.Request, ws *workspace) {
	doc, err := readBody(r, messageInvalidCustomer)
	if err == nil {
		doc, err = s.world.replaceCustomer(ws, r.PathValue("id"), doc, baseURL(r))
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) patchCustomer(w http.ResponseWriter, r *http.Request, ws *workspace) {
	doc, err := readBody(r, messageInvalidCustomer)
	if err == nil {
		doc, err = s.world.patchCustomer(ws, r.PathValue("id"), doc, baseURL(r))
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) deleteCustomer(w http.ResponseWriter, r *http.Request, ws *workspace) {
	if err := s.world.deleteCustomer(ws, r.PathValue("id")); err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK) // the service answers with an empty body
}

const messageInvalidSubscription = "subscription is not valid"

// readSubscription decodes and validates a subscription body.
func readSubscription(r *http.Request, ws *workspace, pathID string) (map[string]any, *Error) {
	doc, err := readBody(r, messageInvalidSubscription)
	if err != nil {
		return nil, err
	}
	return validateSubscription(ws, doc, pathID)
}

func validateSubscription(ws *workspace, doc map[string]any, pathID string) (map[string]any, *Error) {
	if pathID != "" {
		if id, ok := doc["id"]; ok && id != pathID {
			return nil, invalid(messageInvalidSubscription, []FieldError{{Path: "/id", Message: "the id differs from the one in the path"}})
		}
		doc["id"] = pathID
	}
	v := &validator{}
	v.check(subscriptionSchema(ws.baseSchema), doc, "")
	if id, _ := doc["id"].(string); id == "" && len(v.errs) == 0 {
		v.fail("/id", "id must be a non-empty string")
	}
	if len(v.errs) > 0 {
		return nil, invalid(messageInvalidSubscription, v.errs)
	}
	return doc, nil
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request, ws *workspace) {
	customerID := r.PathValue("id")
	if ws.customers[customerID] == nil {
		s.writeError(w, notFound("customer not found "+customerID))
		return
	}
	sub, err := readSubscription(r, ws, "")
	if err != nil {
		s.writeError(w, err)
		return
	}
	subID := sub["id"].(string)
	stored, err := s.world.changeSubscription(ws, customerID, subID, func(subs []any, index int) ([]any, *Error) {
		if index >= 0 {
			return nil, &Error{Status: http.StatusConflict, Message: "Conflict with existing subscription " + subID}
		}
		return append(subs, sub), nil
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, stored)
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request, ws *workspace) {
	customerID, subID := r.PathValue("id"), r.PathValue("sub")
	c := ws.customers[customerID]
	if c == nil {
		s.writeError(w, notFound("customer not found "+customerID))
		return
	}
	sub, _ := findSubscription(c, subID)
	if sub == nil {
		s.writeError(w, notFound("subscription not found "+subID))
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

func (s *Server) putSubscription(w http.ResponseWriter, r *http.Request, ws *workspace) {
	customerID, subID := r.PathValue("id"), r.PathValue("sub")
	if ws.customers[customerID] == nil {
		s.writeError(w, notFound("customer not found "+customerID))
		return
	}
	sub, err := readSubscription(r, ws, subID)
	if err != nil {
		s.writeError(w, err)
		return
	}
	stored, err := s.world.changeSubscription(ws, customerID, subID, func(subs []any, index int) ([]any, *Error) {
		if index < 0 {
			return nil, notFound("subscription not found " + subID)
		}
		subs[index] = sub
		return subs, nil
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, stored)
}

func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request, ws *workspace) {
	customerID, subID := r.PathValue("id"), r.PathValue("sub")
	_, err := s.world.changeSubscription(ws, customerID, subID, func(subs []any, index int) ([]any, *Error) {
		if index < 0 {
			return nil, notFound("subscription not found " + subID)
		}
		return slices.Delete(subs, index, index+1), nil
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func entryNodeJSON(n NodeSeed) map[string]any {
	return map[string]any{
		"id": n.ID, "name": n.Name, "description": n.Description,
		"sourcePriority": []any{}, "mandatoryProperties": []any{},
	}
}

func aggregateNodeJSON(a AggregateNodeSeed) map[string]any {
	return map[string]any{"id": a.ID, "name": a.Name, "description": a.Description, "entryNodes": a.EntryNodes}
}

// listPage wraps a whole list as a single page, as the configuration lists
// do.
func listPage(elements []any) map[string]any {
	pages := 0
	if len(elements) > 0 {
		pages = 1
	}
	return map[string]any{
		"elements": elements,
		"page":     map[string]any{"size": len(elements), "totalElements": len(elements), "totalPages": pages, "number": 0},
	}
}

func (s *Server) listEntryNodes(w http.ResponseWriter, r *http.Request, ws *workspace) {
	elements := []any{}
	for _, n := range ws.entries {
		elements = append(elements, entryNodeJSON(n))
	}
	writeJSON(w, http.StatusOK, listPage(elements))
}

func (s *Server) getEntryNode(w http.ResponseWriter, r *http.Request, ws *workspace) {
	id := r.PathValue("node")
	for _, n := range ws.entries {
		if n.ID == id {
			writeJSON(w, http.StatusOK, entryNodeJSON(n))
			return
		}
	}
	s.writeError(w, notFound("node not found "+id))
}

func (s *Server) listAggregateNodes(w http.ResponseWriter, r *http.Request, ws *workspace) {
	elements := []any{}
	for _, a := range ws.aggregates {
		elements = append(elements, aggregateNodeJSON(a))
	}
	writeJSON(w, http.StatusOK, listPage(elements))
}

func (s *Server) getAggregateNode(w http.ResponseWriter, r *http.Request, ws *workspace) {
	id := r.PathValue("node")
	if a, ok := ws.aggregate(id); ok {
		writeJSON(w, http.StatusOK, aggregateNodeJSON(a))
		return
	}
	s.writeError(w, notFound("node not found "+id))
}

// View nodes are deprecated; the simulator's workspaces have none.
func (s *Server) listViewNodes(w http.ResponseWriter, r *http.Request, ws *workspace) {
	writeJSON(w, http.StatusOK, listPage([]any{}))
}

func (s *Server) getViewNode(w http.ResponseWriter, r *http.Request, ws *workspace) {
	s.writeError(w, notFound("node not found "+r.PathValue("node")))
}

func (s *Server) baseProperties(w http.ResponseWriter, r *http.Request, ws *workspace) {
	elements := []any{}
	for _, p := range ws.baseProperties {
		elements = append(elements, map[string]any{"name": p.Name, "description": p.Description, "enabled": p.Enabled})
	}
	writeJSON(w, http.StatusOK, map[string]any{"elements": elements})
}

// baseModel and extendedProperties return the schema as a string holding
// JSON, as the spec types the schema member.
func (s *Server) baseModel(w http.ResponseWriter, r *http.Request, ws *workspace) {
	writeJSON(w, http.StatusOK, map[string]any{"schema": ws.baseText})
}

func (s *Server) extendedProperties(w http.ResponseWriter, r *http.Request, ws *workspace) {
	text := ws.extendedText
	if text == "" {
		text = `{"type":"object","properties":{}}`
	}
	writeJSON(w, http.StatusOK, map[string]any{"schema": text})
}

const (
	defaultUpdatesSize = 50
	maxUpdatesSize     = 4000
)

// feedFilter selects the feed entries of a node (an aggregate selects its
// members) and entity type.
func feedFilter(ws *workspace, nodeID, entity string) (func(UpdateRecord) bool, *Error) {
	switch entity {
	case "", "CUSTOMER", "EVENT":
	default:
		return nil, invalid("entity must be CUSTOMER or EVENT", []FieldError{{Path: "entity", Message: "invalid entity " + entity}})
	}
	var members []string
	if nodeID != "" {
		var ok bool
		if members, ok = ws.members(nodeID); !ok {
			return nil, notFound("node not found " + nodeID)
		}
	}
	return func(u UpdateRecord) bool {
		return (entity == "" || u.Entity == entity) && (members == nil || slices.Contains(members, u.NodeID))
	}, nil
}

func (s *Server) updates(w http.ResponseWriter, r *http.Request, ws *workspace) {
	q := r.URL.Query()
	size := defaultUpdatesSize
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxUpdatesSize {
			s.writeError(w, invalid("size must be between 0 and 4000", []FieldError{{Path: "size", Message: "invalid size " + v}}))
			return
		}
		size = n
	}
	keep, ferr := feedFilter(ws, q.Get("nodeId"), q.Get("entity"))
	if ferr != nil {
		s.writeError(w, ferr)
		return
	}
	var after int64 = -1 << 63
	var since time.Time
	if v := q.Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.writeError(w, invalid("offset must be an integer", []FieldError{{Path: "offset", Message: "invalid offset " + v}}))
			return
		}
		after = n
	} else if v := q.Get("timestamp"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.writeError(w, invalid("timestamp must be an integer", []FieldError{{Path: "timestamp", Message: "invalid timestamp " + v}}))
			return
		}
		since = time.UnixMilli(n)
	}
	// nextOffset is the last entry returned, or, when the page is not full,
	// the last entry looked at, so a filtered reader skips what it has
	// already seen not to match.
	next := max(after, 0)
	updates := []any{}
	start, _ := slices.BinarySearchFunc(ws.updates, after+1, func(u UpdateRecord, target int64) int {
		return cmp.Compare(u.Offset, target)
	})
	if after == -1<<63 {
		start = 0
	}
	for _, u := range ws.updates[start:] {
		if len(updates) >= size {
			break
		}
		next = u.Offset
		if u.At.Before(since) || !keep(u) {
			continue
		}
		updates = append(updates, map[string]any{
			"operation": u.Operation,
			"entity":    map[string]any{"type": u.Entity, "data": u.Data},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"nextOffset": next, "updates": updates})
}

func (s *Server) lastOffset(w http.ResponseWriter, r *http.Request, ws *workspace) {
	q := r.URL.Query()
	keep, err := feedFilter(ws, q.Get("nodeId"), q.Get("entity"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	var last int64
	for i := len(ws.updates) - 1; i >= 0; i-- {
		if keep(ws.updates[i]) {
			last = ws.updates[i].Offset
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"lastOffset": last})
}
