package configapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/ledger"
)

// csvPage reads a page of at most limit records of an export from cursor
// as CSV rows, and the cursor of the next page ("" after the last).
type csvPage func(ctx context.Context, cursor string, limit int) (rows [][]string, next string, err error)

// csvExport answers one part of a CSV export: the header row, then the
// rows of pages read from the request's cursor until they end, the part
// holds about a.parts.csvBytes (below Lambda's 6 MB answer), or the
// request's time runs short (API Gateway waits 30 s). A Link header
// (RFC 8288) names the next part; every part is a CSV file by itself.
//
// self is the export's path, built from what the route checked rather
// than copied from the request, so that the Link header carries nothing a
// client sent.
func (a *API) csvExport(ctx context.Context, r *request, self, filename string, header []string, read csvPage) events.APIGatewayV2HTTPResponse {
	cursor := r.query("cursor")
	if cursorProblem(cursor) != nil {
		return badCursor()
	}
	deadline, bounded := ctx.Deadline()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(header)
	for {
		rows, next, err := read(ctx, cursor, a.parts.page)
		if errors.Is(err, ledger.ErrBadCursor) || errors.Is(err, history.ErrBadCursor) {
			return badCursor()
		}
		if err != nil {
			return a.internal(ctx, "read "+filename, err)
		}
		for _, row := range rows {
			w.Write(csvSafe(row))
		}
		w.Flush()
		cursor = next
		if next == "" || buf.Len() >= a.parts.csvBytes || bounded && time.Until(deadline) < exportMargin {
			break
		}
	}
	headers := map[string]string{
		"Content-Type":           "text/csv; charset=utf-8",
		"Content-Disposition":    `attachment; filename="` + filename + `"`,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
	if cursor != "" {
		headers["Link"] = "<" + self + "?cursor=" + url.QueryEscape(cursor) + `>; rel="next"`
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: headers, Body: buf.String()}
}
