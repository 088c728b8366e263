package configstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/source"
)

type sourceItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	// GSI2 holds only enabled sources (a sparse index) for the scheduler.
	GSI2PK string `dynamodbav:"gsi2pk,omitempty"`
	GSI2SK string `dynamodbav:"gsi2sk,omitempty"`
	Type   string `dynamodbav:"type"`

	ID          string `dynamodbav:"id"`
	Workspace   string `dynamodbav:"workspace"`
	Name        string `dynamodbav:"name"`
	Description string `dynamodbav:"description"`
	Node        string `dynamodbav:"node"`
	Enabled     bool   `dynamodbav:"enabled"`
	Version     int64  `dynamodbav:"version"`
	UserKey     []byte `dynamodbav:"userKey"`
	APIKey      []byte `dynamodbav:"apiKey"`
	UserDBID    int64  `dynamodbav:"userDbId"`
	UserDBGuard string `dynamodbav:"userDbGuard"`
	// NodeGuard is the key of the node's guard; empty on sources stored
	// before node guards were keyed on the Contacthub workspace.
	NodeGuard     string             `dynamodbav:"nodeGuard,omitempty"`
	HubWorkspace  string             `dynamodbav:"hubWorkspace,omitempty"`
	FieldMapping  []fieldMappingItem `dynamodbav:"fieldMapping"`
	Subscriptions []subscriptionItem `dynamodbav:"subscriptions"`
	OnDeleted     string             `dynamodbav:"onCustomerDeleted"`
	OnUnmatchable string             `dynamodbav:"onUnmatchable,omitempty"`
	MaxInFlight   int                `dynamodbav:"maxInFlight"`
	CreatedAt     time.Time          `dynamodbav:"createdAt"`
	UpdatedAt     time.Time          `dynamodbav:"updatedAt"`
}

type fieldMappingItem struct {
	HubField    string `dynamodbav:"hubField"`
	SendField   string `dynamodbav:"sendField"`
	Match       bool   `dynamodbav:"match"`
	ClearOnNull bool   `dynamodbav:"clearOnNull"`
}

type subscriptionItem struct {
	HubSubscriptionID  string `dynamodbav:"hubSubscriptionId"`
	SendSubscriptionID int64  `dynamodbav:"sendSubscriptionId"`
	WebformCode        string `dynamodbav:"webformCode"`
}

func (s *Store) encode(ctx context.Context, src source.Source) (*sourceItem, error) {
	userKey, err := s.box.Seal(ctx, src.Properties.UserKey, purpose(src.ID, "userKey"))
	if err != nil {
		return nil, fmt.Errorf("seal userKey: %w", err)
	}
	apiKey, err := s.box.Seal(ctx, src.Properties.APIKey, purpose(src.ID, "apiKey"))
	if err != nil {
		return nil, fmt.Errorf("seal apiKey: %w", err)
	}
	item := &sourceItem{
		PK: sourceKey(src.ID), SK: itemSK, Type: typeSource,
		GSI1PK: workspaceKey(src.WorkspaceID),
		GSI1SK: "SOURCE#" + src.CreatedAt.UTC().Format(time.RFC3339Nano) + "#" + src.ID,
		ID:     src.ID, Workspace: src.WorkspaceID, Name: src.Name, Description: src.Description,
		Node: src.Node(), Enabled: src.Enabled, Version: src.Version,
		UserKey: userKey, APIKey: apiKey, UserDBID: src.Properties.UserDBID,
		UserDBGuard: userDBGuardKey(src.Properties.UserDBID),
		OnDeleted:   string(src.Properties.OnCustomerDeleted), MaxInFlight: src.Properties.MaxInFlight,
		OnUnmatchable: string(src.Properties.OnUnmatchable),
		CreatedAt:     src.CreatedAt.UTC(), UpdatedAt: src.UpdatedAt.UTC(),
	}
	if src.Enabled {
		item.GSI2PK, item.GSI2SK = enabledKey, src.ID
	}
	item.HubWorkspace, err = s.hubWorkspace(ctx, src.WorkspaceID)
	if err != nil {
		return nil, err
	}
	item.NodeGuard = legacyNodeGuardKey(src.WorkspaceID, item.Node)
	if item.HubWorkspace != "" {
		item.NodeGuard = hubNodeGuardKey(item.HubWorkspace, item.Node)
	}
	for _, m := range src.Properties.FieldMapping {
		item.FieldMapping = append(item.FieldMapping, fieldMappingItem(m))
	}
	for _, sub := range src.Properties.Subscriptions {
		item.Subscriptions = append(item.Subscriptions, subscriptionItem(sub))
	}
	return item, nil
}

func (s *Store) decode(ctx context.Context, item *sourceItem) (source.Source, error) {
	userKey, err := s.box.Open(ctx, item.UserKey, purpose(item.ID, "userKey"))
	if err != nil {
		return source.Source{}, fmt.Errorf("open userKey of source %s: %w", item.ID, err)
	}
	apiKey, err := s.box.Open(ctx, item.APIKey, purpose(item.ID, "apiKey"))
	if err != nil {
		return source.Source{}, fmt.Errorf("open apiKey of source %s: %w", item.ID, err)
	}
	src := source.Source{
		ID: item.ID, WorkspaceID: item.Workspace, Name: item.Name, Description: item.Description,
		Nodes: []string{item.Node}, Enabled: item.Enabled, Version: item.Version,
		CreatedAt: item.CreatedAt, UpdatedAt: item.UpdatedAt,
		Properties: source.Properties{
			UserKey: userKey, APIKey: apiKey, UserDBID: item.UserDBID,
			OnCustomerDeleted: source.DeletePolicy(item.OnDeleted), MaxInFlight: item.MaxInFlight,
			OnUnmatchable: source.UnmatchablePolicy(item.OnUnmatchable),
		},
	}
	for _, m := range item.FieldMapping {
		src.Properties.FieldMapping = append(src.Properties.FieldMapping, source.FieldMapping(m))
	}
	for _, sub := range item.Subscriptions {
		src.Properties.Subscriptions = append(src.Properties.Subscriptions, source.Subscription(sub))
	}
	return src, nil
}

// Create stores a new source, reserving its node and userdb. src.ID must be
// set and unused. It returns a *ConflictError when the node or the userdb
// already belongs to another source.
func (s *Store) Create(ctx context.Context, src source.Source) (source.Source, error) {
	now := s.now().UTC()
	src.Version = 1
	src.CreatedAt, src.UpdatedAt = now, now
	item, err := s.encode(ctx, src)
	if err != nil {
		return source.Source{}, err
	}
	guards := s.guardsFor(item)
	undo, err := s.claimAll(ctx, guards, src.ID, src.WorkspaceID)
	if err != nil {
		return source.Source{}, err
	}
	if err := s.checkLegacy(ctx, item, src.Properties.APIKey); err != nil {
		undo()
		return source.Source{}, err
	}
	if err := s.putNew(ctx, item); err != nil {
		undo()
		return source.Source{}, err
	}
	// A claim outlived by a very slow write may have been taken over; the
	// source must not exist without its guards.
	for _, g := range guards {
		current, found, err := s.readGuard(ctx, g.pk)
		if err == nil && found && current.Owner == src.ID {
			continue
		}
		_ = s.deleteItem(context.WithoutCancel(ctx), item.PK)
		undo()
		if err != nil {
			return source.Source{}, err
		}
		return source.Source{}, &ConflictError{Resource: g.resource, Key: g.key}
	}
	return src, nil
}

func (s *Store) putNew(ctx context.Context, item *sourceItem) error {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return fmt.Errorf("encode source: %w", err)
	}
	err = s.putIf(ctx, av, notExists)
	if conditionFailed(err) {
		return fmt.Errorf("source %s already exists", item.ID)
	}
	if err != nil {
		return fmt.Errorf("put source: %w", err)
	}
	return nil
}

// Get returns a source of the workspace. A source of another workspace is
// ErrNotFound, exactly like a missing one.
func (s *Store) Get(ctx context.Context, workspace, id string) (source.Source, error) {
	item, err := s.readSource(ctx, id)
	if err != nil {
		return source.Source{}, err
	}
	if item.Workspace != workspace {
		return source.Source{}, fmt.Errorf("source %s: %w", id, ErrNotFound)
	}
	return s.decode(ctx, item)
}

// GetByID returns a source whatever its workspace, for callers that know a
// source only by id (webhooks, queued jobs) and check the workspace themselves.
func (s *Store) GetByID(ctx context.Context, id string) (source.Source, error) {
	item, err := s.readSource(ctx, id)
	if err != nil {
		return source.Source{}, err
	}
	return s.decode(ctx, item)
}

func (s *Store) readSource(ctx context.Context, id string) (*sourceItem, error) {
	if !validID(id) {
		return nil, fmt.Errorf("source: %w", ErrNotFound)
	}
	item, found, err := getItem[sourceItem](ctx, s, itemKey(sourceKey(id)), "source "+id)
	if err != nil {
		return nil, err
	}
	if !found || item.Type != typeSource {
		return nil, fmt.Errorf("source %s: %w", id, ErrNotFound)
	}
	return &item, nil
}

// ListOptions filters and pages a listing.
type ListOptions struct {
	Node    string
	Enabled *bool
	Limit   int
	Cursor  string
}

// Page is one page of sources; Next is empty on the last page.
type Page struct {
	Sources []source.Source
	Next    string
}

// ErrBadCursor means a cursor was not one this store handed out.
var ErrBadCursor = errors.New("invalid cursor")

// List returns the workspace's sources, oldest first. A page may hold fewer
// than Limit sources when filters apply; follow Next until it is empty.
func (s *Store) List(ctx context.Context, workspace string, opts ListOptions) (Page, error) {
	limit := opts.Limit
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	key := expression.Key("gsi1pk").Equal(expression.Value(workspaceKey(workspace)))
	builder := expression.NewBuilder().WithKeyCondition(key)
	var filter expression.ConditionBuilder
	hasFilter := false
	if opts.Node != "" {
		filter, hasFilter = expression.Name("node").Equal(expression.Value(opts.Node)), true
	}
	if opts.Enabled != nil {
		cond := expression.Name("enabled").Equal(expression.Value(*opts.Enabled))
		if hasFilter {
			filter = filter.And(cond)
		} else {
			filter, hasFilter = cond, true
		}
	}
	if hasFilter {
		builder = builder.WithFilter(filter)
	}
	expr, err := builder.Build()
	if err != nil {
		return Page{}, fmt.Errorf("build list query: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		Limit:                     aws.Int32(int32(limit)),
	}
	if opts.Cursor != "" {
		start, err := decodeCursor(opts.Cursor, workspaceKey(workspace))
		if err != nil {
			return Page{}, err
		}
		in.ExclusiveStartKey = start
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("list sources: %w", err)
	}
	var page Page
	for _, av := range out.Items {
		var item sourceItem
		if err := attributevalue.UnmarshalMap(av, &item); err != nil {
			return Page{}, fmt.Errorf("decode source: %w", err)
		}
		src, err := s.decode(ctx, &item)
		if err != nil {
			return Page{}, err
		}
		page.Sources = append(page.Sources, src)
	}
	if len(out.LastEvaluatedKey) > 0 {
		page.Next, err = encodeCursor(out.LastEvaluatedKey)
		if err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

type cursor struct {
	PK     string `json:"p"`
	SK     string `json:"s"`
	GSI1PK string `json:"g"`
	GSI1SK string `json:"h"`
}

// valid reports whether c is a key this store could have handed out for
// the workspace's listing: a hand-made cursor can point nowhere else, and
// never at a key DynamoDB would refuse (empty, too long), which would
// surface as an internal error instead of a bad request.
func (c cursor) valid(gsi1pk string) bool {
	id, ok := strings.CutPrefix(c.PK, "SOURCE#")
	if !ok || !validID(id) || c.SK != itemSK || c.GSI1PK != gsi1pk {
		return false
	}
	rest, ok := strings.CutPrefix(c.GSI1SK, "SOURCE#")
	if !ok {
		return false
	}
	created, sortID, ok := strings.Cut(rest, "#")
	if !ok || sortID != id {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, created)
	return err == nil
}

func encodeCursor(key map[string]types.AttributeValue) (string, error) {
	var c cursor
	if err := attributevalue.UnmarshalMap(key, &struct {
		PK     *string `dynamodbav:"pk"`
		SK     *string `dynamodbav:"sk"`
		GSI1PK *string `dynamodbav:"gsi1pk"`
		GSI1SK *string `dynamodbav:"gsi1sk"`
	}{&c.PK, &c.SK, &c.GSI1PK, &c.GSI1SK}); err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

func decodeCursor(text, gsi1pk string) (map[string]types.AttributeValue, error) {
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return nil, ErrBadCursor
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() || !c.valid(gsi1pk) {
		return nil, ErrBadCursor
	}
	return map[string]types.AttributeValue{
		"pk":     &types.AttributeValueMemberS{Value: c.PK},
		"sk":     &types.AttributeValueMemberS{Value: c.SK},
		"gsi1pk": &types.AttributeValueMemberS{Value: c.GSI1PK},
		"gsi1sk": &types.AttributeValueMemberS{Value: c.GSI1SK},
	}, nil
}

// Replace stores updated in place of the source it names, if the stored
// version is still expected. When the node or the userdb changes, the new
// ones are reserved first and the old ones released after.
func (s *Store) Replace(ctx context.Context, updated source.Source, expected int64) (source.Source, error) {
	current, err := s.readSource(ctx, updated.ID)
	if err != nil {
		return source.Source{}, err
	}
	if current.Workspace != updated.WorkspaceID {
		return source.Source{}, fmt.Errorf("source %s: %w", updated.ID, ErrNotFound)
	}
	if current.Version != expected {
		return source.Source{}, ErrVersionMismatch
	}
	updated.Version = expected + 1
	updated.CreatedAt = current.CreatedAt
	updated.UpdatedAt = s.now().UTC()
	item, err := s.encode(ctx, updated)
	if err != nil {
		return source.Source{}, err
	}

	oldGuards, newGuards := s.guardsFor(current), s.guardsFor(item)
	// A concurrent replace of the same source may have made one of the new
	// guards and may win the version race: undo releases only what this
	// call created.
	undo, err := s.claimAll(ctx, without(newGuards, oldGuards), updated.ID, updated.WorkspaceID)
	if err != nil {
		return source.Source{}, err
	}
	if err := s.checkLegacy(ctx, item, updated.Properties.APIKey); err != nil {
		undo()
		return source.Source{}, err
	}

	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		undo()
		return source.Source{}, fmt.Errorf("encode source: %w", err)
	}
	err = s.putIf(ctx, av, expression.Name("version").Equal(expression.Value(expected)))
	if err != nil {
		undo()
		if conditionFailed(err) {
			return source.Source{}, ErrVersionMismatch
		}
		return source.Source{}, fmt.Errorf("replace source: %w", err)
	}
	for _, g := range without(oldGuards, newGuards) {
		_ = s.release(ctx, g.pk, updated.ID)
	}
	return updated, nil
}

// SetEnabled switches a source on or off and returns it. Switching to the
// state it is already in changes nothing. A non-zero expected is the
// version the caller read (If-Match): any other, now or when the switch is
// written, is ErrVersionMismatch.
func (s *Store) SetEnabled(ctx context.Context, workspace, id string, enabled bool, expected int64) (source.Source, error) {
	src, err := s.Get(ctx, workspace, id)
	if err != nil {
		return source.Source{}, err
	}
	if expected != 0 && src.Version != expected {
		return source.Source{}, ErrVersionMismatch
	}
	if src.Enabled == enabled {
		return src, nil
	}
	now := s.now().UTC()
	update := expression.Set(expression.Name("enabled"), expression.Value(enabled)).
		Set(expression.Name("updatedAt"), expression.Value(now)).
		Add(expression.Name("version"), expression.Value(1))
	if enabled {
		update = update.Set(expression.Name("gsi2pk"), expression.Value(enabledKey)).
			Set(expression.Name("gsi2sk"), expression.Value(id))
	} else {
		update = update.Remove(expression.Name("gsi2pk")).Remove(expression.Name("gsi2sk"))
	}
	cond := expression.Name("workspace").Equal(expression.Value(workspace))
	if expected != 0 {
		cond = cond.And(expression.Name("version").Equal(expression.Value(expected)))
	}
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
	if err != nil {
		return source.Source{}, fmt.Errorf("build enable: %w", err)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       itemKey(sourceKey(id)),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnValues:              types.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		if expected != 0 {
			// Read a moment ago in this workspace: changed (or deleted) since.
			return source.Source{}, ErrVersionMismatch
		}
		return source.Source{}, fmt.Errorf("source %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return source.Source{}, fmt.Errorf("set enabled: %w", err)
	}
	var item sourceItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &item); err != nil {
		return source.Source{}, fmt.Errorf("decode source: %w", err)
	}
	return s.decode(ctx, &item)
}

// Delete removes a disabled source and releases its node and userdb. A
// non-zero expected is the version the caller read (If-Match, or what its
// audit record describes): any other is ErrVersionMismatch.
func (s *Store) Delete(ctx context.Context, workspace, id string, expected int64) error {
	item, err := s.readSource(ctx, id)
	if err != nil {
		return err
	}
	if item.Workspace != workspace {
		return fmt.Errorf("source %s: %w", id, ErrNotFound)
	}
	if expected != 0 && item.Version != expected {
		return ErrVersionMismatch
	}
	// The version read: the guards released below are this version's, and
	// a source changed since (a new node, an enable) is not deleted.
	cond := expression.Name("enabled").Equal(expression.Value(false)).
		And(expression.Name("workspace").Equal(expression.Value(workspace))).
		And(expression.Name("version").Equal(expression.Value(item.Version)))
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("build delete: %w", err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.table,
		Key:                       itemKey(sourceKey(id)),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	if conditionFailed(err) {
		if item.Enabled {
			return ErrEnabled
		}
		now, rerr := s.readSource(ctx, id)
		switch {
		case rerr != nil:
			return rerr
		case now.Enabled:
			return ErrEnabled
		case expected != 0:
			return ErrVersionMismatch
		}
		// Changed but still disabled, and the caller named no version:
		// delete what is there now.
		return s.Delete(ctx, workspace, id, 0)
	}
	if err != nil {
		return fmt.Errorf("delete source: %w", err)
	}
	for _, g := range s.guardsFor(item) {
		_ = s.release(ctx, g.pk, id)
	}
	// A leftover secret is harmless (nothing can use it without the source)
	// but is still cleaned up.
	_, _ = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: webhookKey(id)})
	return nil
}

func (s *Store) deleteItem(ctx context.Context, pk string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: itemKey(pk)})
	return err
}

// enabledKey is the one partition of gsi2: every enabled source.
const enabledKey = "ENABLED"

// EnabledSources returns the ids of every enabled source of every
// workspace. The index is eventually consistent: a source enabled a moment
// ago may show up on the next call.
func (s *Store) EnabledSources(ctx context.Context) ([]string, error) {
	key := expression.Key("gsi2pk").Equal(expression.Value(enabledKey))
	expr, err := expression.NewBuilder().WithKeyCondition(key).Build()
	if err != nil {
		return nil, fmt.Errorf("build enabled query: %w", err)
	}
	var ids []string
	paginator := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String("gsi2"),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list enabled sources: %w", err)
		}
		for _, item := range page.Items {
			if v, ok := item["gsi2sk"].(*types.AttributeValueMemberS); ok {
				ids = append(ids, v.Value)
			}
		}
	}
	return ids, nil
}
