package sendsim

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Field types, as the service's "field" enumeration names them.
const (
	typeFlag            = "FLAG"
	typeDate            = "DATE"
	typeDateTime        = "DATETIME"
	typeDouble          = "DOUBLE"
	typeInteger         = "INTEGER"
	typePositiveInteger = "POSITIVE_INTEGER"
	typeLong            = "LONG"
	typeChar            = "CHAR"
	typeString          = "STRING"
	typeText            = "TEXT"
	typeTime            = "TIME"
	typeTimestamp       = "TIMESTAMP"
)

// Stored formats of the temporal types: MySQL's.
const (
	layoutDate     = "2006-01-02"
	layoutDateTime = "2006-01-02 15:04:05"
	layoutTime     = "15:04:05"
)

// Length limits of the text types, as VARCHAR(255) and TEXT columns.
const (
	maxStringLen = 255
	maxTextLen   = 65535
)

// faultError is an exception the service turns into a SOAP fault: Receiver
// for what the endpoint throws, Sender for a request it cannot read.
type faultError struct {
	sender bool
	// versionMismatch marks an envelope that is not SOAP 1.2.
	versionMismatch bool
	reason          string
}

func (e *faultError) Error() string { return e.reason }

func receiverf(format string, args ...any) error {
	return &faultError{reason: fmt.Sprintf(format, args...)}
}

func senderf(format string, args ...any) error {
	return &faultError{sender: true, reason: fmt.Sprintf(format, args...)}
}

// Reasons the simulator gives. The client recognises them by their words, as
// it must recognise the real service's free text.
const (
	reasonBadCredentials = "Authentication failed: invalid apiKey or userKey"
	reasonTokenExpired   = "Invalid token: the authorization token is expired or unknown"
)

func unknownUserDB(id int64) error {
	return receiverf("Subscriber source not found: %d", id)
}

func unknownSubscriber(id int64) error {
	return receiverf("Subscriber not found: %d", id)
}

type field struct {
	Field
	registration bool
}

type subscriberRow struct {
	id     int64
	values map[string]string // canonical text; absent means NULL
}

type userDB struct {
	UserDB
	fields      []*field
	byName      map[string]*field
	subscribers map[int64]*subscriberRow
	// ids holds the subscribers' ids in ascending order once a search
	// wanted them so; nil until then and after a removal. Paging a large
	// userdb by identifier would otherwise sort it for every page.
	ids []int64
	// index holds, for each field an equality search has named, the ids
	// of the rows holding each value (by equalityKey), as MySQL's index on
	// a lookup column would. Without it every findSubscribersBy scans the
	// whole userdb under the simulator's lock, which at 100,000 subscribers
	// took half of the benchmark process's CPU: a cost of this machine,
	// not of the service. Built on the first search of a field.
	index map[string]valueIndex
}

// valueIndex maps a field's equality keys to the ids of the rows holding
// them.
type valueIndex map[string]map[int64]struct{}

// indexed reports whether equality on fd can use an index: numbers
// compare numerically, so that equal values may differ in text.
func indexed(fd *field) bool { return !isNumeric(fd.Type) }

// lookup returns the ids of the rows whose fd equals one of the canonical
// values, building fd's index if no search used it yet.
func (db *userDB) lookup(fd *field, values []string) []int64 {
	idx, ok := db.index[fd.Name]
	if !ok {
		idx = make(valueIndex)
		for _, row := range db.subscribers {
			if v, ok := row.values[fd.Name]; ok {
				idx.add(equalityKey(fd.Type, v), row.id)
			}
		}
		if db.index == nil {
			db.index = make(map[string]valueIndex)
		}
		db.index[fd.Name] = idx
	}
	var ids []int64
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		key := equalityKey(fd.Type, v)
		if seen[key] {
			continue
		}
		seen[key] = true
		for id := range idx[key] {
			ids = append(ids, id)
		}
	}
	return ids
}

func (idx valueIndex) add(key string, id int64) {
	ids := idx[key]
	if ids == nil {
		ids = make(map[int64]struct{}, 1)
		idx[key] = ids
	}
	ids[id] = struct{}{}
}

func (idx valueIndex) remove(key string, id int64) {
	if ids := idx[key]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(idx, key)
		}
	}
}

// indexRow enters (or, with remove, takes out) the row's values in every
// built index. Every change of a stored row goes through it: store,
// remove and setValue.
func (db *userDB) indexRow(row *subscriberRow, remove bool) {
	for name, idx := range db.index {
		v, ok := row.values[name]
		if !ok {
			continue
		}
		key := equalityKey(db.byName[name].Type, v)
		if remove {
			idx.remove(key, row.id)
		} else {
			idx.add(key, row.id)
		}
	}
}

// store replaces a stored row with next, which has the same id.
func (db *userDB) store(next *subscriberRow) {
	if old, ok := db.subscribers[next.id]; ok {
		db.indexRow(old, true)
	}
	db.subscribers[next.id] = next
	db.indexRow(next, false)
}

// setValue sets one column of a stored row.
func (db *userDB) setValue(row *subscriberRow, name, value string) {
	db.indexRow(row, true)
	row.values[name] = value
	db.indexRow(row, false)
}

// insert adds a new row; ids are assigned in increasing order, so the
// ordered id list stays ordered by appending.
func (db *userDB) insert(row *subscriberRow) {
	db.subscribers[row.id] = row
	db.indexRow(row, false)
	if n := len(db.ids); db.ids != nil && (n == 0 || db.ids[n-1] < row.id) {
		db.ids = append(db.ids, row.id)
	} else {
		db.ids = nil
	}
}

func (db *userDB) remove(id int64) {
	if row, ok := db.subscribers[id]; ok {
		db.indexRow(row, true)
	}
	delete(db.subscribers, id)
	db.ids = nil
}

// inIDOrder returns every row by ascending id.
func (db *userDB) inIDOrder() []*subscriberRow {
	if db.ids == nil || len(db.ids) != len(db.subscribers) {
		db.ids = slices.Sorted(maps.Keys(db.subscribers))
	}
	rows := make([]*subscriberRow, len(db.ids))
	for i, id := range db.ids {
		rows[i] = db.subscribers[id]
	}
	return rows
}

type account struct {
	Account
	userDBs map[int64]bool
}

type token struct {
	account *account
	usedAt  time.Time
}

// state is everything the simulator knows. Its methods expect the server's
// lock to be held.
type state struct {
	accounts map[string]*account
	userDBs  map[int64]*userDB
	tokens   map[string]*token
	nextID   int64
	tokenSeq uint64
}

func accountKey(apiKey, userKey string) string { return apiKey + "\x00" + userKey }

func newState(seed Seed) (*state, error) {
	st := &state{
		accounts: make(map[string]*account),
		userDBs:  make(map[int64]*userDB),
		tokens:   make(map[string]*token),
	}
	var maxID int64
	for _, u := range seed.UserDBs {
		if u.ID <= 0 {
			return nil, fmt.Errorf("userDb %q: id must be positive", u.Name)
		}
		if _, dup := st.userDBs[u.ID]; dup {
			return nil, fmt.Errorf("userDb %d: duplicate id", u.ID)
		}
		db := &userDB{UserDB: u, byName: make(map[string]*field), subscribers: make(map[int64]*subscriberRow)}
		db.Subscribers = nil
		for _, f := range u.Fields {
			if !validType(f.Type) {
				return nil, fmt.Errorf("userDb %d: field %q: unknown type %q", u.ID, f.Name, f.Type)
			}
			if f.Name == "" || db.byName[f.Name] != nil {
				return nil, fmt.Errorf("userDb %d: field %q: empty or duplicate name", u.ID, f.Name)
			}
			fd := &field{Field: f}
			db.fields = append(db.fields, fd)
			db.byName[f.Name] = fd
		}
		seen := make(map[string]bool)
		for _, s := range u.Subscriptions {
			if !registrationFieldPattern.MatchString(s.RegistrationField) {
				return nil, fmt.Errorf("userDb %d: subscription %d: registration field %q is not __clsN", u.ID, s.ID, s.RegistrationField)
			}
			if s.WebformCode == "" || seen[s.WebformCode] {
				return nil, fmt.Errorf("userDb %d: subscription %d: empty or duplicate webformCode", u.ID, s.ID)
			}
			seen[s.WebformCode] = true
			if fd, ok := db.byName[s.RegistrationField]; ok {
				fd.registration = true
				continue
			}
			// The registration column exists in the userDb whether or not
			// the seed lists it, as an INTEGER.
			fd := &field{Field: Field{Name: s.RegistrationField, Type: typeInteger}, registration: true}
			db.fields = append(db.fields, fd)
			db.byName[fd.Name] = fd
		}
		db.Fields = make([]Field, len(db.fields))
		for i, fd := range db.fields {
			db.Fields[i] = fd.Field
		}
		for _, s := range u.Subscribers {
			if s.ID <= 0 || db.subscribers[s.ID] != nil {
				return nil, fmt.Errorf("userDb %d: subscriber id %d: not positive or duplicate", u.ID, s.ID)
			}
			values := make(map[string]string, len(s.Attributes))
			for key, v := range s.Attributes {
				text, null, err := seedText(v)
				if err != nil {
					return nil, fmt.Errorf("userDb %d: subscriber %d: %s: %w", u.ID, s.ID, key, err)
				}
				if null {
					continue
				}
				fd, ok := db.byName[key]
				if !ok {
					return nil, fmt.Errorf("userDb %d: subscriber %d: unknown field %q", u.ID, s.ID, key)
				}
				canon, err := coerce(fd, text)
				if err != nil {
					return nil, fmt.Errorf("userDb %d: subscriber %d: %w", u.ID, s.ID, err)
				}
				values[key] = canon
			}
			row := &subscriberRow{id: s.ID, values: values}
			db.defaults(row)
			if err := db.checkUnique(row); err != nil {
				return nil, fmt.Errorf("userDb %d: %w", u.ID, err)
			}
			db.insert(row)
			maxID = max(maxID, s.ID)
		}
		st.userDBs[u.ID] = db
	}
	for _, a := range seed.Accounts {
		if a.APIKey == "" || a.UserKey == "" {
			return nil, fmt.Errorf("account: apiKey and userKey are required")
		}
		acc := &account{Account: a, userDBs: make(map[int64]bool)}
		for _, id := range a.UserDBs {
			if st.userDBs[id] == nil {
				return nil, fmt.Errorf("account: unknown userDb %d", id)
			}
			acc.userDBs[id] = true
		}
		st.accounts[accountKey(a.APIKey, a.UserKey)] = acc
	}
	st.nextID = seed.NextSubscriberID
	if st.nextID <= maxID {
		st.nextID = maxID + 1
	}
	return st, nil
}

// defaults sets the registration columns a new row leaves out to 0 (pending).
func (db *userDB) defaults(row *subscriberRow) {
	for _, fd := range db.fields {
		if _, ok := row.values[fd.Name]; fd.registration && !ok {
			row.values[fd.Name] = "0"
		}
	}
}

func (db *userDB) checkUnique(row *subscriberRow) error {
	for _, fd := range db.fields {
		v, ok := row.values[fd.Name]
		if !fd.Unique || !ok {
			continue
		}
		for _, other := range db.holding(fd, v) {
			if other.id != row.id {
				return receiverf("Duplicate value for unique field %s: %q", fd.Name, v)
			}
		}
	}
	return nil
}

// checkUniqueRows checks new rows against the stored ones and each other.
func (db *userDB) checkUniqueRows(rows []*subscriberRow) error {
	for _, fd := range db.fields {
		if !fd.Unique {
			continue
		}
		seen := make(map[string]bool)
		for _, row := range rows {
			v, ok := row.values[fd.Name]
			if !ok {
				continue
			}
			if seen[v] || len(db.holding(fd, v)) > 0 {
				return receiverf("Duplicate value for unique field %s: %q", fd.Name, v)
			}
			seen[v] = true
		}
	}
	return nil
}

// holding returns the stored rows whose fd is exactly v, as uniqueness
// compares: through the index where fd can have one, as a search would.
func (db *userDB) holding(fd *field, v string) []*subscriberRow {
	var rows []*subscriberRow
	if indexed(fd) {
		for _, id := range db.lookup(fd, []string{v}) {
			if other, ok := db.subscribers[id]; ok && other.values[fd.Name] == v {
				rows = append(rows, other)
			}
		}
		return rows
	}
	for _, other := range db.subscribers {
		if other.values[fd.Name] == v {
			rows = append(rows, other)
		}
	}
	return rows
}

func (db *userDB) subscription(wfc string) (Subscription, bool) {
	for _, s := range db.Subscriptions {
		if s.WebformCode == wfc {
			return s, true
		}
	}
	return Subscription{}, false
}

// snapshot returns the state as a seed.
func (st *state) snapshot() Seed {
	seed := Seed{NextSubscriberID: st.nextID}
	for _, acc := range st.accounts {
		a := acc.Account
		a.UserDBs = slices.Clone(a.UserDBs)
		seed.Accounts = append(seed.Accounts, a)
	}
	slices.SortFunc(seed.Accounts, func(a, b Account) int {
		return cmp.Or(strings.Compare(a.APIKey, b.APIKey), strings.Compare(a.UserKey, b.UserKey))
	})
	for _, id := range slices.Sorted(maps.Keys(st.userDBs)) {
		db := st.userDBs[id]
		u := db.UserDB
		u.Fields = slices.Clone(u.Fields)
		u.Subscriptions = slices.Clone(u.Subscriptions)
		u.Subscribers = db.records()
		seed.UserDBs = append(seed.UserDBs, u)
	}
	return seed
}

// records returns the subscribers in id order.
func (db *userDB) records() []Subscriber {
	out := make([]Subscriber, 0, len(db.subscribers))
	for _, id := range slices.Sorted(maps.Keys(db.subscribers)) {
		out = append(out, db.subscribers[id].record())
	}
	return out
}

func (row *subscriberRow) record() Subscriber {
	attrs := make(map[string]any, len(row.values))
	for k, v := range row.values {
		attrs[k] = v
	}
	return Subscriber{ID: row.id, Attributes: attrs}
}

func validType(t string) bool {
	switch t {
	case typeFlag, typeDate, typeDateTime, typeDouble, typeInteger, typePositiveInteger, typeLong,
		typeChar, typeString, typeText, typeTime, typeTimestamp:
		return true
	}
	return false
}

// coerce checks that text fits the field's type and returns it in the
// stored, canonical form.
func coerce(fd *field, text string) (string, error) {
	bad := func() error {
		return receiverf("Invalid value for field %s of type %s: %q", fd.Name, fd.Type, truncate(text, 64))
	}
	trimmed := strings.TrimSpace(text)
	switch fd.Type {
	case typeString, typeChar:
		if utf8.RuneCountInString(text) > maxStringLen {
			return "", receiverf("Invalid value for field %s of type %s: too long (%d characters, at most %d)", fd.Name, fd.Type, utf8.RuneCountInString(text), maxStringLen)
		}
		return text, nil
	case typeText:
		if utf8.RuneCountInString(text) > maxTextLen {
			return "", receiverf("Invalid value for field %s of type TEXT: too long", fd.Name)
		}
		return text, nil
	case typeInteger, typePositiveInteger, typeLong:
		n, err := strconv.ParseInt(trimmed, 10, 64)
		if err != nil {
			return "", bad()
		}
		if fd.Type != typeLong && (n < math.MinInt32 || n > math.MaxInt32) {
			return "", bad()
		}
		if fd.Type == typePositiveInteger && n < 0 {
			return "", bad()
		}
		if fd.registration && (n < -1 || n > 1) {
			return "", receiverf("Invalid value for field %s of type %s: a registration field holds -1, 0 or 1, not %d", fd.Name, fd.Type, n)
		}
		return strconv.FormatInt(n, 10), nil
	case typeDouble:
		f, err := strconv.ParseFloat(trimmed, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "", bad()
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case typeFlag:
		switch strings.ToLower(trimmed) {
		case "true", "1":
			return "true", nil
		case "false", "0":
			return "false", nil
		}
		return "", bad()
	case typeDate, typeDateTime, typeTimestamp, typeTime:
		t, ok := parseTemporal(fd.Type, trimmed)
		if !ok {
			return "", bad()
		}
		switch fd.Type {
		case typeDate:
			return t.Format(layoutDate), nil
		case typeTime:
			return t.Format(layoutTime), nil
		}
		return t.Format(layoutDateTime), nil
	}
	return "", bad()
}

// parseTemporal accepts MySQL's formats and the XML Schema ones (xs:date,
// xs:dateTime, xs:time), which a client may send typed as such.
func parseTemporal(typ, s string) (time.Time, bool) {
	var layouts []string
	switch typ {
	case typeDate:
		layouts = []string{layoutDate, "2006-01-02Z07:00", layoutDateTime, time.RFC3339Nano, "2006-01-02T15:04:05"}
	case typeTime:
		layouts = []string{layoutTime, "15:04:05.999999999", "15:04:05Z07:00", "15:04:05.999999999Z07:00"}
	default:
		layouts = []string{layoutDateTime, time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", layoutDate}
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// xsiType is the schema type a stored value is returned with. Temporal
// values come back as strings in the stored format, as clients send them.
func xsiType(fieldType string) string {
	switch fieldType {
	case typeInteger, typePositiveInteger:
		return "xs:int"
	case typeLong:
		return "xs:long"
	case typeDouble:
		return "xs:double"
	case typeFlag:
		return "xs:boolean"
	}
	return "xs:string"
}

func isNumeric(t string) bool {
	switch t {
	case typeInteger, typePositiveInteger, typeLong, typeDouble:
		return true
	}
	return false
}

func isText(t string) bool {
	switch t {
	case typeString, typeChar, typeText:
		return true
	}
	return false
}

// compareValues orders two canonical values of a field: numerically for
// numbers, case-insensitively for text (MySQL's default _ci collations), and
// by their text for the rest (the stored temporal formats sort by time).
func compareValues(fieldType, a, b string) int {
	if isNumeric(fieldType) {
		ai, aerr := strconv.ParseInt(a, 10, 64)
		bi, berr := strconv.ParseInt(b, 10, 64)
		if aerr == nil && berr == nil {
			return cmp.Compare(ai, bi)
		}
		af, _ := strconv.ParseFloat(a, 64)
		bf, _ := strconv.ParseFloat(b, 64)
		return cmp.Compare(af, bf)
	}
	if isText(fieldType) {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	}
	return strings.Compare(a, b)
}

// like matches s against an SQL LIKE pattern (% any run, _ one character,
// backslash escapes), case-insensitively.
func like(s, pattern string) bool {
	return likeRunes([]rune(strings.ToLower(s)), []rune(strings.ToLower(pattern)))
}

func likeRunes(s, p []rune) bool {
	for len(p) > 0 {
		switch p[0] {
		case '%':
			for len(p) > 0 && p[0] == '%' {
				p = p[1:]
			}
			if len(p) == 0 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if likeRunes(s[i:], p) {
					return true
				}
			}
			return false
		case '_':
			if len(s) == 0 {
				return false
			}
			s, p = s[1:], p[1:]
		default:
			c := p[0]
			if c == '\\' && len(p) > 1 {
				c, p = p[1], p[1:]
			}
			if len(s) == 0 || s[0] != c {
				return false
			}
			s, p = s[1:], p[1:]
		}
	}
	return len(s) == 0
}

// condition is one test on a column.
type condition struct {
	field  *field
	mode   string
	value  string   // canonical; unused by IS_NULL/IS_NOT_NULL
	values []string // canonical; IN/NOT_IN
	// set holds equalityKey of each of values, so a long IN list costs a
	// lookup per row, not a scan (numbers still compare numerically).
	set map[string]bool
}

// equalityKey is a canonical value as compareValues sees it equal: text
// case-insensitively, the rest by its canonical form.
func equalityKey(fieldType, canon string) string {
	if isText(fieldType) {
		return strings.ToLower(canon)
	}
	return canon
}

var matchingModes = map[string]bool{
	"EQUALS": true, "LIKE": true, "IS_NULL": true, "IS_NOT_NULL": true, "GREATER": true, "GREATER_EQUALS": true,
	"LESS": true, "LESS_EQUALS": true, "NOT_LIKE": true, "IN": true, "NOT_IN": true, "DIFFERENT": true,
}

// matches applies SQL semantics: a NULL column satisfies only IS_NULL.
func (c condition) matches(row *subscriberRow) bool {
	v, ok := row.values[c.field.Name]
	switch c.mode {
	case "IS_NULL":
		return !ok
	case "IS_NOT_NULL":
		return ok
	}
	if !ok {
		return false
	}
	t := c.field.Type
	switch c.mode {
	case "EQUALS":
		return compareValues(t, v, c.value) == 0
	case "DIFFERENT":
		return compareValues(t, v, c.value) != 0
	case "LIKE":
		return like(v, c.value)
	case "NOT_LIKE":
		return !like(v, c.value)
	case "GREATER":
		return compareValues(t, v, c.value) > 0
	case "GREATER_EQUALS":
		return compareValues(t, v, c.value) >= 0
	case "LESS":
		return compareValues(t, v, c.value) < 0
	case "LESS_EQUALS":
		return compareValues(t, v, c.value) <= 0
	case "IN", "NOT_IN":
		var in bool
		if c.set != nil && !isNumeric(t) {
			in = c.set[equalityKey(t, v)]
		} else {
			in = slices.ContainsFunc(c.values, func(x string) bool { return compareValues(t, v, x) == 0 })
		}
		return in == (c.mode == "IN")
	}
	return false
}
