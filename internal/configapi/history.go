package configapi

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/runs"
	"github.com/hubsend/hubsend/internal/source"
)

// History reads the consent audit trail (package history).
type History interface {
	List(ctx context.Context, sourceID, customerID string, limit int, after string) (history.Page, error)
	Retention(ctx context.Context, workspace string) (time.Duration, error)
	SetRetention(ctx context.Context, workspace string, days int) error
}

type historySettingsJSON struct {
	RetentionDays int `json:"retentionDays"`
}

// historySettings answers how long the workspace keeps its consent trail.
func (a *API) historySettings(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.History == nil {
		return problem(http.StatusNotImplemented, "the sync history is not available in this deployment")
	}
	d, err := a.cfg.History.Retention(ctx, r.workspace)
	if err != nil {
		return a.internal(ctx, "read the history retention", err)
	}
	return jsonResponse(http.StatusOK, historySettingsJSON{RetentionDays: int(d / (24 * time.Hour))})
}

// putHistorySettings sets how long the workspace keeps its consent trail,
// for entries written from then on.
func (a *API) putHistorySettings(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.History == nil {
		return problem(http.StatusNotImplemented, "the sync history is not available in this deployment")
	}
	var in historySettingsJSON
	if resp := decodeJSON(r, &in); resp != nil {
		return *resp
	}
	err := a.cfg.History.SetRetention(ctx, r.workspace, in.RetentionDays)
	if errors.Is(err, history.ErrRetention) {
		return problem(http.StatusUnprocessableEntity, "invalid history settings", source.Problem{Path: "retentionDays", Message: err.Error()})
	}
	if err != nil {
		return a.internal(ctx, "store the history retention", err)
	}
	return jsonResponse(http.StatusOK, in)
}

// customerSearch is the Contacthub search the customer lookup by email
// uses; the Contacthub client has it.
type customerSearch interface {
	Customers(ctx context.Context, q contacthub.ListQuery) (contacthub.CustomerPage, error)
}

type historyJSON struct {
	Elements   []history.Entry `json:"elements"`
	NextCursor string          `json:"nextCursor,omitempty"`
}

// customerHistory answers a customer's consent trail, newest first.
func (a *API) customerHistory(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.History == nil {
		return problem(http.StatusNotImplemented, "the sync history is not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	limit, refused := r.pageQuery()
	if refused != nil {
		return *refused
	}
	page, err := a.cfg.History.List(ctx, src.ID, r.params["customerId"], limit, r.query("cursor"))
	if errors.Is(err, history.ErrBadCursor) {
		return badCursor()
	}
	if err != nil {
		return a.internal(ctx, "read the sync history", err)
	}
	out := historyJSON{Elements: page.Entries, NextCursor: page.Next}
	if out.Elements == nil {
		out.Elements = []history.Entry{}
	}
	return jsonResponse(http.StatusOK, out)
}

// customerHistoryCSV exports a customer's whole trail as CSV, newest
// first, in parts.
func (a *API) customerHistoryCSV(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.History == nil {
		return problem(http.StatusNotImplemented, "the sync history is not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	customerID := r.params["customerId"]
	filename := "history-" + src.ID + "-" + safeFileName(customerID) + ".csv"
	self := "/v1/sources/" + url.PathEscape(src.ID) + "/customers/" + url.PathEscape(customerID) + "/history.csv"
	return a.csvExport(ctx, r, self, filename, history.CSVHeader, func(ctx context.Context, cursor string, limit int) ([][]string, string, error) {
		page, err := a.cfg.History.List(ctx, src.ID, customerID, limit, cursor)
		rows := make([][]string, len(page.Entries))
		for i, e := range page.Entries {
			rows[i] = e.CSVRecord()
		}
		return rows, page.Next, err
	})
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(row []string) []string {
	for i, v := range row {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			row[i] = "'" + v
		}
	}
	return row
}

// safeFileName keeps the letters, digits, '-' and '_' of a customer id.
func safeFileName(id string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, id)
}

type customersJSON struct {
	Elements []customerRefJSON `json:"elements"`
}

type customerRefJSON struct {
	ID     string `json:"id"`
	NodeID string `json:"nodeId"`
}

// maxCustomersByEmail bounds the lookup: an email normally names one
// customer, a few when a node holds duplicates.
const maxCustomersByEmail = 10

// findCustomers finds the source's customers holding an email, so that a
// trail can be looked up by email. Contacthub's search lags new customers
// by up to a minute.
func (a *API) findCustomers(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	email := strings.TrimSpace(r.query("email"))
	if email == "" {
		return problem(http.StatusBadRequest, "invalid query", source.Problem{Path: "email", Message: "is required"})
	}
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email || len(email) > 254 {
		return problem(http.StatusBadRequest, "invalid query", source.Problem{Path: "email", Message: "is not an email address"})
	}
	hub, err := a.hubFor(ctx, r.workspace)
	if err != nil {
		return respond(err)
	}
	search, ok := hub.(customerSearch)
	if !ok {
		return problem(http.StatusNotImplemented, "finding customers by email is not available in this deployment")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	page, err := search.Customers(ctx, contacthub.ListQuery{NodeID: src.Node(), Query: contacthub.EmailQuery(email), Size: maxCustomersByEmail})
	if err != nil {
		return respond(hubFailure("finding customers by email", err))
	}
	out := customersJSON{Elements: []customerRefJSON{}}
	for _, c := range page.Elements {
		out.Elements = append(out.Elements, customerRefJSON{ID: c.ID, NodeID: c.NodeID})
	}
	slices.SortFunc(out.Elements, func(x, y customerRefJSON) int { return strings.Compare(x.ID, y.ID) })
	return jsonResponse(http.StatusOK, out)
}

// Runs reads the run history (package runs).
type Runs interface {
	List(ctx context.Context, sourceID string, limit int, after string) (runs.Page, error)
}

type runsJSON struct {
	Elements   []runs.Run `json:"elements"`
	NextCursor string     `json:"nextCursor,omitempty"`
	// Days are the synced and failed records of each of the last days
	// (UTC, oldest first, webhook jobs included), on the first page only.
	Days []dayJSON `json:"days,omitempty"`
}

type dayJSON struct {
	Day    string `json:"day"`
	Synced int64  `json:"synced"`
	Failed int64  `json:"failed"`
}

// chartDays is how many days the run history's chart shows: the hourly
// counters are kept 8 days.
const chartDays = 7

// lastDays sums a source's hourly counters by UTC day, oldest first, with
// a zero for each day without any.
func (a *API) lastDays(ctx context.Context, sourceID string) ([]dayJSON, error) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(chartDays - 1))
	st, err := a.cfg.Outcomes.Stats(ctx, sourceID, first)
	if err != nil {
		return nil, err
	}
	out := make([]dayJSON, chartDays)
	for i := range out {
		out[i].Day = first.AddDate(0, 0, i).Format(time.DateOnly)
	}
	for _, b := range st.Buckets {
		i := int(b.Hour.UTC().Sub(first) / (24 * time.Hour))
		if i >= 0 && i < chartDays {
			out[i].Synced += b.Synced
			out[i].Failed += b.Failed
		}
	}
	return out, nil
}

// sourceRuns answers a source's runs, newest first.
func (a *API) sourceRuns(ctx context.Context, r *request) events.APIGatewayV2HTTPResponse {
	if a.cfg.Runs == nil {
		return problem(http.StatusNotImplemented, "the run history is not available in this deployment")
	}
	src, err := a.cfg.Store.Get(ctx, r.workspace, r.params["id"])
	if err != nil {
		return a.storeFailure(ctx, err)
	}
	limit, refused := r.pageQuery()
	if refused != nil {
		return *refused
	}
	page, err := a.cfg.Runs.List(ctx, src.ID, limit, r.query("cursor"))
	if errors.Is(err, runs.ErrBadCursor) {
		return badCursor()
	}
	if err != nil {
		return a.internal(ctx, "read the run history", err)
	}
	out := runsJSON{Elements: page.Runs, NextCursor: page.Next}
	if out.Elements == nil {
		out.Elements = []runs.Run{}
	}
	if r.query("cursor") == "" && a.cfg.Outcomes != nil {
		if out.Days, err = a.lastDays(ctx, src.ID); err != nil {
			return a.internal(ctx, "read sync stats", err)
		}
	}
	return jsonResponse(http.StatusOK, out)
}
