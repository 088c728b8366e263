package secret

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMSAPI is the part of the AWS KMS client that KMSKeys uses.
type KMSAPI interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMSKeys issues data keys from an AWS KMS key.
type KMSKeys struct {
	client KMSAPI
	keyID  string
}

// NewKMSKeys returns a key service backed by the KMS key keyID.
func NewKMSKeys(client KMSAPI, keyID string) *KMSKeys {
	return &KMSKeys{client: client, keyID: keyID}
}

// GenerateDataKey asks KMS for a new AES-256 data key bound to
// encryptionContext.
func (k *KMSKeys) GenerateDataKey(ctx context.Context, encryptionContext map[string]string) ([]byte, []byte, error) {
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: &k.keyID, KeySpec: types.DataKeySpecAes256, EncryptionContext: encryptionContext,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kms generate data key: %w", err)
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

// Decrypt asks KMS to unwrap a data key, pinning the key it must come from
// and the encryption context it was generated with.
func (k *KMSKeys) Decrypt(ctx context.Context, wrapped []byte, encryptionContext map[string]string) ([]byte, error) {
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: wrapped, KeyId: &k.keyID, EncryptionContext: encryptionContext})
	if err != nil {
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	return out.Plaintext, nil
}
