package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/gftp/gftp/remote"
)

var _ remote.VersionRemover = (*Remote)(nil)

// ReadVersion implements remote.VersionRemover: the object's content and
// its ETag, from one GET, so that the two always describe the same object.
func (r *Remote) ReadVersion(ctx context.Context, name string, max int64) ([]byte, string, error) {
	out, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: aws.String(r.key(name))})
	if err != nil {
		return nil, "", r.wrap(ctx, "open", name, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, max))
	if err != nil {
		return nil, "", r.wrap(ctx, "open", name, err)
	}
	return data, aws.ToString(out.ETag), nil
}

// RemoveVersion implements remote.VersionRemover with a conditional
// DeleteObject (If-Match: the ETag), which AWS S3 honours since September
// 2025 and versitygw does: 412 when the object changed. When it is gone,
// AWS answers 404 and versitygw 204.
// A server that does not know the header (501 NotImplemented) gives
// errors.ErrUnsupported, so that the caller can choose a plain Remove.
func (r *Remote) RemoveVersion(ctx context.Context, name, version string) error {
	if version == "" {
		return &fs.PathError{Op: "remove", Path: name, Err: errors.New("no version to match")}
	}
	_, err := r.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket:  &r.bucket,
		Key:     aws.String(r.key(name)),
		IfMatch: aws.String(version),
	})
	var api smithy.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &api) && api.ErrorCode() == "NotImplemented":
		return &fs.PathError{Op: "remove", Path: name, Err: fmt.Errorf("conditional delete: %w", errors.ErrUnsupported)}
	}
	err = r.wrap(ctx, "remove", name, err)
	if errors.Is(err, fs.ErrExist) { // 412 Precondition Failed
		return &fs.PathError{Op: "remove", Path: name, Err: remote.ErrChanged}
	}
	return err
}
