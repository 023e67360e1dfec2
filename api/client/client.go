// Package client is a Go client of fumo-gw's operator API (package api):
// what the CLI sub-commands, the demo and the tests that drive a gateway
// from outside use.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// Client talks to one gateway's API.
type Client struct {
	Base  string // e.g. http://127.0.0.1:8081
	Token string
	HTTP  *http.Client
}

// Error is an API error answer.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// IsCode tells whether err is an API error with that code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Do sends a request to path (under the API root) and decodes a JSON
// answer into out (when not nil). body is JSON-encoded unless it is an
// io.Reader, sent with contentType.
func (c *Client) Do(ctx context.Context, method, path string, body any, contentType string, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
			return &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(b))}
		}
		return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// AddPackage uploads an image of size bytes with its SHA-256.
func (c *Client) AddPackage(ctx context.Context, id, name, version, sha256 string, size int64, image io.Reader) (fleet.Package, error) {
	return c.UploadPackage(ctx, PackageUpload{ID: id, Name: name, Version: version, SHA256: sha256, Size: size}, image)
}

// PackageUpload describes an image to upload: what POST /packages takes
// in its query.
type PackageUpload struct {
	ID, Name, Version string
	SHA256            string // lowercase hex
	Size              int64
	ContentType       string // the image's MIME type (optional)
	// Verify, when set, switches the firmware version check after a
	// successful update on or off for the package's jobs (default on).
	Verify *bool
}

// UploadPackage uploads an image described by u.
func (c *Client) UploadPackage(ctx context.Context, u PackageUpload, image io.Reader) (fleet.Package, error) {
	q := url.Values{"id": {u.ID}, "name": {u.Name}, "version": {u.Version}, "sha256": {u.SHA256}, "size": {strconv.FormatInt(u.Size, 10)}}
	if u.ContentType != "" {
		q.Set("content_type", u.ContentType)
	}
	if u.Verify != nil {
		q.Set("verify", strconv.FormatBool(*u.Verify))
	}
	var p fleet.Package
	err := c.Do(ctx, http.MethodPost, api.Prefix+"/packages?"+q.Encode(), image, "application/octet-stream", &p)
	return p, err
}

// Packages lists the packages.
func (c *Client) Packages(ctx context.Context) ([]fleet.Package, error) {
	var out struct{ Packages []fleet.Package }
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/packages", nil, "", &out)
	return out.Packages, err
}

// AddDevice provisions a device.
func (c *Client) AddDevice(ctx context.Context, d api.DeviceRequest) (api.DeviceView, error) {
	var v api.DeviceView
	err := c.Do(ctx, http.MethodPost, api.Prefix+"/devices", d, "", &v)
	return v, err
}

// Devices lists devices; query holds the filters (protocol, model,
// firmware_version, after, limit).
func (c *Client) Devices(ctx context.Context, query url.Values) ([]api.DeviceView, error) {
	var out struct{ Devices []api.DeviceView }
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/devices?"+query.Encode(), nil, "", &out)
	return out.Devices, err
}

// Device gets one device.
func (c *Client) Device(ctx context.Context, id string) (api.DeviceView, error) {
	var v api.DeviceView
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/devices/"+url.PathEscape(id), nil, "", &v)
	return v, err
}

// Models lists every model's settings.
func (c *Client) Models(ctx context.Context) ([]fleet.ModelSettings, error) {
	var out struct{ Models []fleet.ModelSettings }
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/models", nil, "", &out)
	return out.Models, err
}

// Model gets a model's settings.
func (c *Client) Model(ctx context.Context, model string) (fleet.ModelSettings, error) {
	var m fleet.ModelSettings
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/models/"+segment(model), nil, "", &m)
	return m, err
}

// SetModel replaces a model's settings.
func (c *Client) SetModel(ctx context.Context, model string, r api.ModelRequest) (fleet.ModelSettings, error) {
	var m fleet.ModelSettings
	err := c.Do(ctx, http.MethodPut, api.Prefix+"/models/"+segment(model), r, "", &m)
	return m, err
}

// DeleteModel removes a model's settings.
func (c *Client) DeleteModel(ctx context.Context, model string) error {
	return c.Do(ctx, http.MethodDelete, api.Prefix+"/models/"+segment(model), nil, "", nil)
}

// segment escapes s as one path segment: '/' as %2F, and "." and ".."
// too, which a router would otherwise clean away.
func segment(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}

// LwM2MDiscover lists the links a device holds under an LwM2M path ("3/0"
// or "/3/0") with their attributes (Discover).
func (c *Client) LwM2MDiscover(ctx context.Context, id, path string) (api.LwM2MLinks, error) {
	var l api.LwM2MLinks
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/devices/"+url.PathEscape(id)+"/lwm2m/discover/"+lwm2mPath(path), nil, "", &l)
	return l, err
}

// LwM2MWriteAttributes sets notification attributes on a device's LwM2M
// path (Write-Attributes); the gateway checks them before sending.
func (c *Client) LwM2MWriteAttributes(ctx context.Context, id, path string, at api.LwM2MAttributes) error {
	return c.Do(ctx, http.MethodPut, api.Prefix+"/devices/"+url.PathEscape(id)+"/lwm2m/attributes/"+lwm2mPath(path), at, "", nil)
}

// lwm2mPath is an LwM2M path as the API's {path}: without its leading
// slash, each id escaped.
func lwm2mPath(p string) string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// CreateJob creates a job.
func (c *Client) CreateJob(ctx context.Context, r bridge.JobRequest) (fleet.Job, error) {
	var j fleet.Job
	err := c.Do(ctx, http.MethodPost, api.Prefix+"/jobs", r, "", &j)
	return j, err
}

// Job gets a job.
func (c *Client) Job(ctx context.Context, id string) (fleet.Job, error) {
	var j fleet.Job
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/jobs/"+url.PathEscape(id), nil, "", &j)
	return j, err
}

// CancelJob cancels a job.
func (c *Client) CancelJob(ctx context.Context, id string) (fleet.Job, error) {
	var j fleet.Job
	err := c.Do(ctx, http.MethodPost, api.Prefix+"/jobs/"+url.PathEscape(id)+"/cancel", nil, "", &j)
	return j, err
}

// Jobs lists jobs; query holds the filters (state, device, campaign).
func (c *Client) Jobs(ctx context.Context, query url.Values) ([]fleet.Job, error) {
	var out struct{ Jobs []fleet.Job }
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/jobs?"+query.Encode(), nil, "", &out)
	return out.Jobs, err
}

// CreateCampaign stores a draft campaign.
func (c *Client) CreateCampaign(ctx context.Context, r bridge.CampaignRequest) (bridge.Progress, error) {
	var p bridge.Progress
	err := c.Do(ctx, http.MethodPost, api.Prefix+"/campaigns", r, "", &p)
	return p, err
}

// Campaign gets a campaign's progress.
func (c *Client) Campaign(ctx context.Context, id string) (bridge.Progress, error) {
	var p bridge.Progress
	err := c.Do(ctx, http.MethodGet, api.Prefix+"/campaigns/"+url.PathEscape(id), nil, "", &p)
	return p, err
}

// CampaignAction starts, pauses, resumes or cancels a campaign.
func (c *Client) CampaignAction(ctx context.Context, id, action string) (bridge.Progress, error) {
	var p bridge.Progress
	err := c.Do(ctx, http.MethodPost, api.Prefix+"/campaigns/"+url.PathEscape(id)+"/"+action, nil, "", &p)
	return p, err
}

// Events streams the event stream's events (filters in query) to fn until
// ctx ends, the stream ends, or fn returns false.
func (c *Client) Events(ctx context.Context, query url.Values, fn func(bridge.Event) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.Base, "/")+api.Prefix+"/events?"+query.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &Error{Status: resp.StatusCode, Code: "http", Message: resp.Status}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	kind := ""
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "event: "); ok {
			kind = k
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || (kind != string(bridge.EventJob) && kind != string(bridge.EventDevice) && kind != string(bridge.EventCampaign)) {
			continue
		}
		var ev bridge.Event
		if json.Unmarshal([]byte(data), &ev) == nil && !fn(ev) {
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}
