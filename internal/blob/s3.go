package blob

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// partSize is the size of one part of a multipart upload, and the largest
// blob sent in a single PUT.
const partSize = 8 << 20

// bucket keeps blobs in an S3 bucket (AWS, or any S3-compatible server),
// each under the location's prefix followed by its key.
type bucket struct {
	client *minio.Client
	core   minio.Core
	name   string
	prefix string
}

// openBucket connects to the bucket loc names, with credentials from the
// AWS environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN), else the profile= or AWS_PROFILE profile of the shared
// credentials file, else the instance's or container's role. It sends no
// request.
func openBucket(loc Location) (*bucket, error) {
	endpoint, secure := "s3.amazonaws.com", true
	if ep := loc.query.Get("endpoint"); ep != "" {
		u, err := url.Parse(ep)
		if err != nil {
			return nil, errors.New("endpoint= is not a valid URL")
		}
		endpoint, secure = u.Host, u.Scheme == "https"
	}
	lookup := minio.BucketLookupAuto
	if v := loc.query.Get("use_path_style"); v != "" {
		if path, _ := strconv.ParseBool(v); path {
			lookup = minio.BucketLookupPath
		} else {
			lookup = minio.BucketLookupDNS
		}
	}
	region := loc.query.Get("region")
	if region == "" {
		region = cmp.Or(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{Profile: loc.query.Get("profile")},
		&credentials.IAM{},
	})
	client, err := minio.New(endpoint, &minio.Options{
		Creds: creds, Secure: secure, Region: region, BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client: %w", err)
	}
	return &bucket{client: client, core: minio.Core{Client: client}, name: loc.Bucket, prefix: loc.Prefix}, nil
}

// check lists one key, so a wrong bucket, endpoint, region or credential
// fails when the store opens rather than at the first publish.
func (b *bucket) check(ctx context.Context) error {
	v, err := b.client.GetCreds()
	if err != nil {
		return err
	}
	if v.AccessKeyID == "" && v.SecretAccessKey == "" {
		return errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " +
			"or AWS_PROFILE (or profile=) with a shared credentials file, or run with an instance role")
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range b.client.ListObjectsIter(lctx, b.name, minio.ListObjectsOptions{Prefix: b.prefix, Recursive: true, MaxKeys: 1}) {
		return obj.Err
	}
	return nil
}

// write sends a blob of at most partSize in one PUT, and a larger one as a
// multipart upload that is aborted if the reader fails, the context ends
// or a part is refused; either way the key holds the whole blob or nothing
// new.
func (b *bucket) write(ctx context.Context, key string, r io.Reader, size int64) error {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: partSize}
	if size < 0 || size > partSize {
		// Read the first part: a blob that ends within it goes up in one PUT.
		head, err := io.ReadAll(io.LimitReader(r, partSize+1))
		if err != nil {
			return err
		}
		if len(head) <= partSize {
			r, size = bytes.NewReader(head), int64(len(head))
		} else {
			r, size = io.MultiReader(bytes.NewReader(head), r), -1
		}
	}
	_, err := b.client.PutObject(ctx, b.name, b.prefix+key, r, size, opts)
	return err
}

// isNoSuchKey reports whether err is S3's answer for a missing object.
func isNoSuchKey(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket
}

func (b *bucket) open(ctx context.Context, key string) (Reader, error) {
	body, info, _, err := b.core.GetObject(ctx, b.name, b.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		if isNoSuchKey(err) {
			return nil, notFound(err)
		}
		return nil, err
	}
	return &objectReader{b: b, ctx: ctx, key: b.prefix + key, size: info.Size, modTime: info.LastModified, body: body}, nil
}

// objectReader reads an object with GET requests: the whole object from
// the start, or a range from where a Seek moved to. Seeking alone sends
// nothing (http.ServeContent seeks to the end and back to learn the size),
// and a body already open at the read position is read on.
type objectReader struct {
	b       *bucket
	ctx     context.Context
	key     string
	size    int64
	modTime time.Time

	pos     int64         // the read position
	body    io.ReadCloser // an open GET, or nil
	bodyPos int64         // where body would read next
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body != nil && r.bodyPos != r.pos {
		_ = r.body.Close()
		r.body = nil
	}
	if r.body == nil {
		var opts minio.GetObjectOptions
		if err := opts.SetRange(r.pos, r.size-1); err != nil {
			return 0, err
		}
		body, _, _, err := r.b.core.GetObject(r.ctx, r.b.name, r.key, opts)
		if err != nil {
			return 0, fmt.Errorf("read blob from %d: %w", r.pos, err)
		}
		r.body, r.bodyPos = body, r.pos
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.bodyPos = r.pos
	if errors.Is(err, io.EOF) && r.pos < r.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Seek moves within the object; seeking past the end stops at the end.
func (r *objectReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return r.pos, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if offset < 0 {
		return r.pos, fmt.Errorf("seek to %d: before the start of the blob", offset)
	}
	r.pos = min(offset, r.size)
	return r.pos, nil
}

func (r *objectReader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}

func (r *objectReader) Size() int64        { return r.size }
func (r *objectReader) ModTime() time.Time { return r.modTime }

func (b *bucket) stat(ctx context.Context, key string) (Attributes, error) {
	info, err := b.client.StatObject(ctx, b.name, b.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		if isNoSuchKey(err) {
			return Attributes{}, notFound(err)
		}
		return Attributes{}, err
	}
	return Attributes{Size: info.Size, ModTime: info.LastModified}, nil
}

func (b *bucket) delete(ctx context.Context, key string) error {
	err := b.client.RemoveObject(ctx, b.name, b.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && !isNoSuchKey(err) {
		return err
	}
	return nil
}

// list pages through ListObjectsV2 (a thousand keys a page), which gives
// keys in order.
func (b *bucket) list(ctx context.Context, prefix string, fn func(key string, a Attributes) error) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing when fn fails
	for obj := range b.client.ListObjectsIter(lctx, b.name, minio.ListObjectsOptions{Prefix: b.prefix + prefix, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		key, ok := strings.CutPrefix(obj.Key, b.prefix)
		if !ok || strings.HasSuffix(key, "/") {
			continue // a folder marker some servers list
		}
		if err := fn(key, Attributes{Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// ping asks whether the bucket exists (a HEAD request).
func (b *bucket) ping(ctx context.Context) error {
	ok, err := b.client.BucketExists(ctx, b.name)
	if err != nil {
		return fmt.Errorf("reach the blob store: %w", err)
	}
	if !ok {
		return errors.New("the blob store's bucket does not exist")
	}
	return nil
}

func (b *bucket) close() error { return nil }
