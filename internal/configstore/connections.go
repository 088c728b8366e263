package configstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Connection is how hubsend reaches a workspace's Contacthub: the API base
// URL, the Contacthub workspace id, and the token of a Contacthub source with
// read and write access to the nodes hubsend serves.
type Connection struct {
	Workspace             string
	ContacthubBaseURL     string
	ContacthubWorkspaceID string
	ContacthubToken       string
	UpdatedAt             time.Time
}

type connectionItem struct {
	PK                    string    `dynamodbav:"pk"`
	SK                    string    `dynamodbav:"sk"`
	Type                  string    `dynamodbav:"type"`
	Workspace             string    `dynamodbav:"workspace"`
	ContacthubBaseURL     string    `dynamodbav:"contacthubBaseUrl"`
	ContacthubWorkspaceID string    `dynamodbav:"contacthubWorkspaceId"`
	ContacthubToken       []byte    `dynamodbav:"contacthubToken"`
	UpdatedAt             time.Time `dynamodbav:"updatedAt"`
}

func connectionKey(workspace string) string { return "WORKSPACE#" + workspace }

// Connection returns the workspace's Contacthub connection, or ErrNotFound.
func (s *Store) Connection(ctx context.Context, workspace string) (Connection, error) {
	item, found, err := getItem[connectionItem](ctx, s, itemKey(connectionKey(workspace)), "connection")
	if err != nil {
		return Connection{}, err
	}
	if !found {
		return Connection{}, fmt.Errorf("connection of workspace %s: %w", workspace, ErrNotFound)
	}
	token, err := s.box.Open(ctx, item.ContacthubToken, "workspace/"+workspace+"/contacthubToken")
	if err != nil {
		return Connection{}, fmt.Errorf("open Contacthub token of workspace %s: %w", workspace, err)
	}
	return Connection{
		Workspace: item.Workspace, ContacthubBaseURL: item.ContacthubBaseURL,
		ContacthubWorkspaceID: item.ContacthubWorkspaceID, ContacthubToken: token, UpdatedAt: item.UpdatedAt,
	}, nil
}

// PutConnection stores the workspace's Contacthub connection, over
// whatever is stored.
func (s *Store) PutConnection(ctx context.Context, c Connection) (Connection, error) {
	return s.putConnection(ctx, c, nil)
}

// ReplaceConnection stores the workspace's Contacthub connection over the
// one the caller read, prev (nil: none was stored): ErrVersionMismatch
// when another write came in between, whose change would otherwise be
// lost, or whose token the caller's decision to keep the stored one did
// not see.
func (s *Store) ReplaceConnection(ctx context.Context, c Connection, prev *Connection) (Connection, error) {
	cond := expression.AttributeNotExists(expression.Name("pk"))
	if prev != nil {
		cond = expression.Name("updatedAt").Equal(expression.Value(prev.UpdatedAt))
	}
	return s.putConnection(ctx, c, &cond)
}

func (s *Store) putConnection(ctx context.Context, c Connection, cond *expression.ConditionBuilder) (Connection, error) {
	token, err := s.box.Seal(ctx, c.ContacthubToken, "workspace/"+c.Workspace+"/contacthubToken")
	if err != nil {
		return Connection{}, fmt.Errorf("seal Contacthub token: %w", err)
	}
	c.UpdatedAt = s.now().UTC()
	av, err := attributevalue.MarshalMap(connectionItem{
		PK: connectionKey(c.Workspace), SK: itemSK, Type: typeConnect, Workspace: c.Workspace,
		ContacthubBaseURL: c.ContacthubBaseURL, ContacthubWorkspaceID: c.ContacthubWorkspaceID,
		ContacthubToken: token, UpdatedAt: c.UpdatedAt,
	})
	if err != nil {
		return Connection{}, fmt.Errorf("encode connection: %w", err)
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: av}
	if cond != nil {
		expr, err := expression.NewBuilder().WithCondition(*cond).Build()
		if err != nil {
			return Connection{}, fmt.Errorf("build connection condition: %w", err)
		}
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = expr.Condition(), expr.Names(), expr.Values()
	}
	if _, err := s.db.PutItem(ctx, in); conditionFailed(err) {
		return Connection{}, ErrVersionMismatch
	} else if err != nil {
		return Connection{}, fmt.Errorf("put connection: %w", err)
	}
	return c, nil
}

// hubWorkspace returns the Contacthub workspace id the hubsend workspace is
// connected to, or "" when it has no connection. It opens no secret.
func (s *Store) hubWorkspace(ctx context.Context, workspace string) (string, error) {
	item, found, err := getItem[connectionItem](ctx, s, itemKey(connectionKey(workspace)), "connection")
	if err != nil || !found {
		return "", err
	}
	return item.ContacthubWorkspaceID, nil
}
