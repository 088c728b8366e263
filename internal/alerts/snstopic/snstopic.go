// Package snstopic publishes source alerts to the deployment's SNS alert
// topic. It is apart from package alerts so that only the functions that
// send alerts (the scheduler, the config API's test alert) link the SNS
// client.
package snstopic

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// Client is the part of the SNS client the publisher uses.
type Client interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Publisher publishes alerts to one topic (alerts.Publisher).
type Publisher struct {
	Client   Client
	TopicARN string
}

// New returns a publisher to topicARN on the SDK configuration cfg.
func New(cfg aws.Config, topicARN string) Publisher {
	return Publisher{Client: sns.NewFromConfig(cfg), TopicARN: topicARN}
}

// Publish sends one message to the topic.
func (p Publisher) Publish(ctx context.Context, subject, message string) error {
	if _, err := p.Client.Publish(ctx, &sns.PublishInput{TopicArn: &p.TopicARN, Subject: &subject, Message: &message}); err != nil {
		return fmt.Errorf("publish to %s: %w", p.TopicARN, err)
	}
	return nil
}
