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
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(header)
	cursor, err := eachPage(ctx, cursor, a.parts.page, func(cursor string, limit int) (string, int, error) {
		rows, next, err := read(ctx, cursor, limit)
		for _, row := range rows {
			w.Write(csvSafe(row))
		}
		w.Flush()
		if buf.Len() >= a.parts.csvBytes {
			return next, 0, err
		}
		return next, a.parts.page, err
	})
	if errors.Is(err, ledger.ErrBadCursor) || errors.Is(err, history.ErrBadCursor) {
		return badCursor()
	}
	if err != nil {
		return a.internal(ctx, "read "+filename, err)
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

// eachPage reads from cursor a page at a time, each of at most the limit
// the read before asked for (limit for the first), until the pages end,
// a read asks for none, or the request's time runs short (exportMargin
// left). It returns the cursor that continues after the last page read:
// "" when nothing remains.
func eachPage(ctx context.Context, cursor string, limit int, read func(cursor string, limit int) (next string, more int, err error)) (string, error) {
	deadline, bounded := ctx.Deadline()
	for {
		next, more, err := read(cursor, limit)
		if err != nil {
			return "", err
		}
		if next == "" || more <= 0 || bounded && time.Until(deadline) < exportMargin {
			return next, nil
		}
		cursor, limit = next, more
	}
}
