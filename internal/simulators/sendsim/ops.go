package sendsim

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// findSubscribersPageSize is findSubscribers' fixed page size.
const findSubscribersPageSize = 15

// maxPageSize bounds findSubscribersBy/findSubscriptionsBy pages. The real
// maximum is not documented; a bound makes a client that asks for everything
// at once fail here rather than in production.
const maxPageSize = 1000

// opCall is one authenticated operation being served.
type opCall struct {
	s     *Server
	st    *state
	acc   *account
	token string
	body  *node
	r     *response
}

// handler returns the implementation of a token-taking operation. Handlers
// write the content of <return> and report whether there is one.
func handler(op string) (func(*opCall) (bool, error), bool) {
	switch op {
	case "keepaliveToken":
		return (*opCall).keepaliveToken, true
	case "invalidateToken":
		return (*opCall).invalidateToken, true
	case "getSubscriberSource":
		return (*opCall).getSubscriberSource, true
	case "countSubscribers":
		return (*opCall).countSubscribers, true
	case "getSubscriber":
		return (*opCall).getSubscriber, true
	case "addSubscriber":
		return (*opCall).addSubscriber, true
	case "addSubscribers":
		return (*opCall).addSubscribers, true
	case "updateSubscriber":
		return (*opCall).updateSubscriber, true
	case "removeSubscriber":
		return (*opCall).removeSubscriber, true
	case "findSubscribers":
		return (*opCall).findSubscribers, true
	case "findSubscribersBy":
		return (*opCall).findSubscribersBy, true
	case "modifySubscriberSubscriptionStatus":
		return (*opCall).modifySubscriptionStatus, true
	case "findSubscriptionsBy":
		return (*opCall).findSubscriptionsBy, true
	}
	return nil, false
}

// Operations lists the SOAP operations the simulator implements.
func Operations() []string {
	return []string{
		"borrowToken", "keepaliveToken", "invalidateToken", "getSubscriberSource", "countSubscribers",
		"getSubscriber", "addSubscriber", "addSubscribers", "updateSubscriber", "removeSubscriber", "findSubscribers",
		"findSubscribersBy", "modifySubscriberSubscriptionStatus", "findSubscriptionsBy",
	}
}

func (c *opCall) keepaliveToken() (bool, error) {
	// authenticate already renewed the idle timer.
	c.r.b.WriteString("true")
	return true, nil
}

func (c *opCall) invalidateToken() (bool, error) {
	delete(c.st.tokens, c.token)
	c.r.b.WriteString("true")
	return true, nil
}

// userDB returns the userDb named by sourceIdentifier, if the account may use it.
func (c *opCall) userDB(element string) (*userDB, error) {
	id, _, err := intOf(c.body, element, true)
	if err != nil {
		return nil, err
	}
	db, ok := c.st.userDBs[id]
	if !ok || !c.acc.userDBs[id] {
		return nil, unknownUserDB(id)
	}
	return db, nil
}

func (c *opCall) writable(db *userDB) error {
	switch {
	case db.Locked:
		return receiverf("Subscriber source %d is locked", db.ID)
	case db.ReadOnly:
		return receiverf("Subscriber source %d is read-only", db.ID)
	}
	return nil
}

func (c *opCall) getSubscriberSource() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	r := c.r
	r.int("identifier", db.ID)
	r.leaf("name", db.Name)
	if db.Description != "" {
		r.leaf("description", db.Description)
	}
	for _, fd := range db.fields {
		r.open("fields")
		r.leaf("name", fd.Name)
		r.leaf("type", fd.Type)
		r.bool("emailField", fd.EmailField)
		r.bool("phoneField", fd.PhoneField)
		r.bool("faxField", false)
		r.close("fields")
	}
	r.leaf("charset", "UTF_8")
	r.bool("locked", db.Locked)
	r.bool("readOnly", db.ReadOnly)
	return true, nil
}

func (c *opCall) countSubscribers() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	c.r.b.WriteString(strconv.Itoa(len(db.subscribers)))
	return true, nil
}

func (c *opCall) subscriber(db *userDB, element string) (*subscriberRow, error) {
	id, _, err := intOf(c.body, element, true)
	if err != nil {
		return nil, err
	}
	row, ok := db.subscribers[id]
	if !ok {
		return nil, unknownSubscriber(id)
	}
	return row, nil
}

func (c *opCall) getSubscriber() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	row, err := c.subscriber(db, "subscriberIdentifier")
	if err != nil {
		return false, err
	}
	writeSubscriberContent(c.r, db, row, nil)
	return true, nil
}

// writeSubscriberContent writes a Subscriber's children: its id and its
// non-NULL columns in field order (all, or the selected ones).
func writeSubscriberContent(r *response, db *userDB, row *subscriberRow, selected map[string]bool) {
	r.int("identifier", row.id)
	for _, fd := range db.fields {
		v, ok := row.values[fd.Name]
		if !ok || (selected != nil && !selected[fd.Name]) {
			continue
		}
		r.open("attributes")
		r.leaf("key", fd.Name)
		r.value("value", xsiType(fd.Type), v)
		r.close("attributes")
	}
}

// readAttributes decodes a Subscriber's attributes: each key a column, each
// value fitting its type. A nil value sets NULL (the empty string in the map).
func readAttributes(db *userDB, sub *node) (map[string]string, error) {
	attrs := sub.all("attributes")
	if len(attrs) == 0 {
		return nil, receiverf("Invalid subscriber: at least one attribute is required")
	}
	out := make(map[string]string, len(attrs))
	for _, a := range attrs {
		key, _ := a.textOf("key")
		fd, ok := db.byName[key]
		if !ok {
			return nil, receiverf("Unknown field: %q is not a column of subscriber source %d", truncate(key, 64), db.ID)
		}
		v, err := valueOf(a.child("value"))
		if err != nil {
			return nil, err
		}
		if v.null {
			out[key] = ""
			continue
		}
		canon, err := coerce(fd, v.text)
		if err != nil {
			return nil, err
		}
		out[key] = canon
	}
	return out, nil
}

func setValues(row *subscriberRow, values map[string]string) {
	for k, v := range values {
		if v == "" {
			delete(row.values, k)
			continue
		}
		row.values[k] = v
	}
}

func (c *opCall) addSubscriber() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	if err := c.writable(db); err != nil {
		return false, err
	}
	sub := c.body.child("subscriber")
	if sub == nil {
		return false, senderf("Unable to parse the request: subscriber is required")
	}
	if _, ok := sub.textOf("identifier"); ok {
		return false, receiverf("Invalid subscriber: subscriber source %d generates identifiers, none may be given", db.ID)
	}
	values, err := readAttributes(db, sub)
	if err != nil {
		return false, err
	}
	row := &subscriberRow{id: c.st.nextID, values: make(map[string]string)}
	setValues(row, values)
	db.defaults(row)
	if err := db.checkUnique(row); err != nil {
		return false, err
	}
	db.insert(row)
	c.st.nextID++
	writeSubscriberContent(c.r, db, row, nil)
	return true, nil
}

// maxAddSubscribers bounds one addSubscribers page. The reference gives no
// hard limit, only the advice to use a DataExchange above about 500
// records; the bound keeps a runaway client from building one huge request.
const maxAddSubscribers = 5000

// addSubscribers creates every subscriber of a Subscribers page and returns
// how many it created, not their identifiers (as the service does). The
// page is checked whole before anything is written, so a bad item creates
// none: the simulator's reading of an undocumented case, and the one that
// leaves a caller nothing to reconcile after a refusal. Identifiers are
// assigned incrementally in the page's order.
func (c *opCall) addSubscribers() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	if err := c.writable(db); err != nil {
		return false, err
	}
	items := c.body.child("subscribers").all("currentPageItems")
	if len(items) > maxAddSubscribers {
		return false, receiverf("Too many subscribers: %d in one call, at most %d", len(items), maxAddSubscribers)
	}
	rows := make([]*subscriberRow, 0, len(items))
	for i, sub := range items {
		if _, ok := sub.textOf("identifier"); ok {
			return false, receiverf("Invalid subscriber %d: subscriber source %d generates identifiers, none may be given", i+1, db.ID)
		}
		values, err := readAttributes(db, sub)
		if err != nil {
			return false, receiverf("Invalid subscriber %d: %v", i+1, err)
		}
		row := &subscriberRow{id: c.st.nextID + int64(i), values: make(map[string]string)}
		setValues(row, values)
		db.defaults(row)
		rows = append(rows, row)
	}
	if err := db.checkUniqueRows(rows); err != nil {
		return false, err
	}
	for _, row := range rows {
		db.insert(row)
	}
	c.st.nextID += int64(len(rows))
	c.r.b.WriteString(strconv.Itoa(len(rows)))
	return true, nil
}

func (c *opCall) updateSubscriber() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	if err := c.writable(db); err != nil {
		return false, err
	}
	sub := c.body.child("subscriber")
	if sub == nil {
		return false, senderf("Unable to parse the request: subscriber is required")
	}
	id, ok, err := intOf(sub, "identifier", false)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, receiverf("Invalid subscriber: identifier is required to update")
	}
	row, ok := db.subscribers[id]
	if !ok {
		return false, unknownSubscriber(id)
	}
	values, err := readAttributes(db, sub)
	if err != nil {
		return false, err
	}
	next := &subscriberRow{id: id, values: cloneMap(row.values)}
	setValues(next, values)
	if err := db.checkUnique(next); err != nil {
		return false, err
	}
	db.store(next)
	writeSubscriberContent(c.r, db, next, nil)
	return true, nil
}

func (c *opCall) removeSubscriber() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	if err := c.writable(db); err != nil {
		return false, err
	}
	row, err := c.subscriber(db, "recipientIdentifier")
	if err != nil {
		return false, err
	}
	db.remove(row.id)
	c.r.b.WriteString("true")
	return true, nil
}

// conditionFor builds a test on column name. For LIKE the value is a
// pattern, taken as text; for IN/NOT_IN the values come from list or, in
// findSubscribers' single value, from a comma-separated list.
func conditionFor(db *userDB, name, mode string, valueNode *node, list []*node) (condition, error) {
	fd, ok := db.byName[name]
	if !ok {
		return condition{}, receiverf("Unknown field: %q is not a column of subscriber source %d", truncate(name, 64), db.ID)
	}
	if mode == "" {
		mode = "EQUALS"
	}
	if !matchingModes[mode] {
		return condition{}, receiverf("Invalid matching mode: %q", truncate(mode, 32))
	}
	cond := condition{field: fd, mode: mode}
	if mode == "IS_NULL" || mode == "IS_NOT_NULL" {
		return cond, nil
	}
	if mode == "IN" || mode == "NOT_IN" {
		var texts []string
		for _, n := range list {
			v, err := valueOf(n)
			if err != nil {
				return condition{}, err
			}
			if !v.null {
				texts = append(texts, v.text)
			}
		}
		if len(texts) == 0 && valueNode != nil {
			v, err := valueOf(valueNode)
			if err != nil {
				return condition{}, err
			}
			for t := range strings.SplitSeq(v.text, ",") {
				texts = append(texts, strings.TrimSpace(t))
			}
		}
		cond.set = make(map[string]bool, len(texts))
		for _, t := range texts {
			canon, err := coerce(fd, t)
			if err != nil {
				return condition{}, err
			}
			cond.values = append(cond.values, canon)
			cond.set[equalityKey(fd.Type, canon)] = true
		}
		return cond, nil
	}
	v, err := valueOf(valueNode)
	if err != nil {
		return condition{}, err
	}
	if v.null {
		return condition{}, receiverf("Invalid value for field %s: null cannot be compared, use IS_NULL", fd.Name)
	}
	if mode == "LIKE" || mode == "NOT_LIKE" {
		cond.value = v.text
		return cond, nil
	}
	if cond.value, err = coerce(fd, v.text); err != nil {
		return condition{}, err
	}
	return cond, nil
}

// sortKey orders rows by a column or by identifier.
type sortKey struct {
	field      *field // nil means identifier
	descending bool
}

func sortRows(rows []*subscriberRow, keys []sortKey) {
	slices.SortStableFunc(rows, func(a, b *subscriberRow) int {
		for _, k := range keys {
			var c int
			if k.field == nil {
				c = cmp.Compare(a.id, b.id)
			} else {
				av, aok := a.values[k.field.Name]
				bv, bok := b.values[k.field.Name]
				switch {
				case !aok && !bok:
				case !aok:
					c = -1 // NULL first, as MySQL sorts ascending
				case !bok:
					c = 1
				default:
					c = compareValues(k.field.Type, av, bv)
				}
			}
			if k.descending {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Compare(a.id, b.id)
	})
}

func (db *userDB) query(conds []condition, keys []sortKey) []*subscriberRow {
	if len(conds) == 0 && (len(keys) == 0 || len(keys) == 1 && keys[0].field == nil && !keys[0].descending) {
		return db.inIDOrder()
	}
	var rows []*subscriberRow
	keep := func(row *subscriberRow) {
		if !slices.ContainsFunc(conds, func(c condition) bool { return !c.matches(row) }) {
			rows = append(rows, row)
		}
	}
	if i := slices.IndexFunc(conds, func(c condition) bool {
		return (c.mode == "EQUALS" || c.mode == "IN") && indexed(c.field)
	}); i >= 0 {
		// The index names candidates; every condition still decides.
		c := conds[i]
		values := c.values
		if c.mode == "EQUALS" {
			values = []string{c.value}
		}
		for _, id := range db.lookup(c.field, values) {
			if row, ok := db.subscribers[id]; ok {
				keep(row)
			}
		}
	} else {
		for _, row := range db.subscribers {
			keep(row)
		}
	}
	sortRows(rows, keys)
	return rows
}

// writePage writes a SlicedDataSet of subscribers: 1-based page of size.
func writePage(r *response, db *userDB, rows []*subscriberRow, page, size int, selected map[string]bool) {
	maxPage := (len(rows) + size - 1) / size
	r.int("currentPageNumber", int64(page))
	r.int("maxPageNumber", int64(maxPage))
	start := (page - 1) * size
	for i := start; i < len(rows) && i < start+size; i++ {
		r.open("currentPageItems")
		writeSubscriberContent(r, db, rows[i], selected)
		r.close("currentPageItems")
	}
}

func (c *opCall) findSubscribers() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	attr := c.body.child("attribute")
	if attr == nil {
		return false, receiverf("Invalid search: attribute is required")
	}
	prefs := c.body.child("lookupPrefs")
	page := int64(1)
	if p, ok, err := intOf(prefs, "pageNumber", false); err != nil {
		return false, err
	} else if ok {
		page = p
	}
	if page < 1 || page > 1<<30 {
		return false, receiverf("Invalid page number: %d (pages start at 1)", page)
	}
	mode, _ := prefs.textOf("matchingMode")
	sorting, _ := prefs.textOf("sortingMode")
	descending := true
	switch sorting {
	case "", "DESCENDING":
	case "ASCENDING":
		descending = false
	default:
		return false, receiverf("Invalid sorting mode: %q", truncate(sorting, 32))
	}
	key, _ := attr.textOf("key")
	cond, err := conditionFor(db, key, mode, attr.child("value"), nil)
	if err != nil {
		return false, err
	}
	rows := db.query([]condition{cond}, []sortKey{{descending: descending}})
	writePage(c.r, db, rows, int(page), findSubscribersPageSize, nil)
	return true, nil
}

// pagination reads a Pagination element; absent means everything on page 1.
func (c *opCall) pagination(db *userDB) (page, size int, keys []sortKey, err error) {
	p := c.body.child("pagination")
	if p == nil {
		return 1, maxPageSize, nil, nil
	}
	current, _, err := intOf(p, "currentPage", true)
	if err != nil {
		return 0, 0, nil, err
	}
	pageSize, _, err := intOf(p, "pageSize", true)
	if err != nil {
		return 0, 0, nil, err
	}
	if current < 1 || current > 1<<30 {
		return 0, 0, nil, receiverf("Invalid pagination: currentPage %d (pages start at 1)", current)
	}
	if pageSize < 1 || pageSize > maxPageSize {
		return 0, 0, nil, receiverf("Invalid pagination: pageSize %d out of range 1..%d", pageSize, maxPageSize)
	}
	for _, s := range p.all("sorting") {
		fieldName, _ := s.textOf("sortField")
		order, _ := s.textOf("sortOrder")
		var k sortKey
		switch strings.ToUpper(order) {
		case "", "ASC", "ASCENDING":
		case "DESC", "DESCENDING":
			k.descending = true
		default:
			return 0, 0, nil, receiverf("Invalid pagination: sortOrder %q", truncate(order, 32))
		}
		if fieldName != "identifier" && db != nil {
			fd, ok := db.byName[fieldName]
			if !ok {
				return 0, 0, nil, receiverf("Unknown field: %q cannot sort subscriber source %d", truncate(fieldName, 64), db.ID)
			}
			k.field = fd
		}
		keys = append(keys, k)
	}
	return int(current), int(pageSize), keys, nil
}

func (c *opCall) findSubscribersBy() (bool, error) {
	db, err := c.userDB("sourceIdentifier")
	if err != nil {
		return false, err
	}
	if id, ok, err := intOf(c.body, "filterId", false); err != nil {
		return false, err
	} else if ok {
		return false, receiverf("Subscriber source filter not found: %d", id)
	}
	if _, err := boolOf(c.body, "useBaseFilter"); err != nil {
		return false, err
	}
	var selected map[string]bool
	for _, n := range c.body.all("selectedAttribute") {
		name := strings.TrimSpace(n.text)
		if _, ok := db.byName[name]; !ok {
			return false, receiverf("Unknown field: %q is not a column of subscriber source %d", truncate(name, 64), db.ID)
		}
		if selected == nil {
			selected = make(map[string]bool)
		}
		selected[name] = true
	}
	var conds []condition
	for _, w := range c.body.all("whereAttribute") {
		name, _ := w.textOf("attributeName")
		mode, _ := w.textOf("lookupMatchingMode")
		cond, err := conditionFor(db, name, mode, w.child("attributeValue"), w.child("attributeValues").all("attributeValues"))
		if err != nil {
			return false, err
		}
		conds = append(conds, cond)
	}
	page, size, keys, err := c.pagination(db)
	if err != nil {
		return false, err
	}
	writePage(c.r, db, db.query(conds, keys), page, size, selected)
	return true, nil
}

func (c *opCall) modifySubscriptionStatus() (bool, error) {
	wfc, _ := c.body.textOf("webFormCode")
	id, _, err := intOf(c.body, "subscriberIdentifier", true)
	if err != nil {
		return false, err
	}
	subscribed, err := boolOf(c.body, "isSubscribed")
	if err != nil {
		return false, err
	}
	for _, dbID := range slices.Sorted(maps.Keys(c.acc.userDBs)) {
		db := c.st.userDBs[dbID]
		sub, ok := db.subscription(wfc)
		if !ok {
			continue
		}
		row, ok := db.subscribers[id]
		if !ok {
			return false, unknownSubscriber(id)
		}
		status := "-1"
		if subscribed {
			status = "1"
		}
		db.setValue(row, sub.RegistrationField, status)
		return false, nil
	}
	return false, receiverf("Web form code not found: %q", truncate(wfc, 64))
}

func (c *opCall) findSubscriptionsBy() (bool, error) {
	attrs := c.body.child("attributes")
	sourceID, bySource, err := intOf(attrs, "subscriberSourceId", false)
	if err != nil {
		return false, err
	}
	if bySource && (c.st.userDBs[sourceID] == nil || !c.acc.userDBs[sourceID]) {
		return false, unknownUserDB(sourceID)
	}
	page, size, _, err := c.pagination(nil)
	if err != nil {
		return false, err
	}
	var subs []Subscription
	for _, dbID := range slices.Sorted(maps.Keys(c.acc.userDBs)) {
		if bySource && dbID != sourceID {
			continue
		}
		subs = append(subs, c.st.userDBs[dbID].Subscriptions...)
	}
	r := c.r
	r.int("currentPageNumber", int64(page))
	r.int("maxPageNumber", int64((len(subs)+size-1)/size))
	start := (page - 1) * size
	for i := start; i < len(subs) && i < start+size; i++ {
		s := subs[i]
		r.open("currentPageItems")
		r.int("id", s.ID)
		r.leaf("name", s.Name)
		r.leaf("registrationField", s.RegistrationField)
		r.leaf("webformCode", s.WebformCode)
		r.close("currentPageItems")
	}
	return true, nil
}
