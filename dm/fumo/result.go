package fumo

import (
	"fmt"
	"strconv"
	"strings"
)

// ResultCode is the result a device reports in the Data of a FUMO Generic
// Alert 1226 (FUMO 1.0 section 6.3). Codes inside the vendor ranges keep
// their raw value; Class tells what they mean.
type ResultCode int

const (
	ResultSuccessful                ResultCode = 200
	ResultClientError               ResultCode = 400
	ResultUserCancelled             ResultCode = 401
	ResultCorruptedPackage          ResultCode = 402
	ResultPackageMismatch           ResultCode = 403
	ResultFailedValidation          ResultCode = 404
	ResultPackageNotAcceptable      ResultCode = 405
	ResultDownloadAuthFailure       ResultCode = 406
	ResultDownloadTimeout           ResultCode = 407
	ResultNotImplemented            ResultCode = 408
	ResultUndefinedError            ResultCode = 409
	ResultUpdateFailed              ResultCode = 410
	ResultBadURL                    ResultCode = 411
	ResultDownloadServerUnavailable ResultCode = 412
	ResultDownloadServerError       ResultCode = 500
	ResultDownloadFailedOutOfMemory ResultCode = 501
	ResultUpdateFailedOutOfMemory   ResultCode = 502
	ResultDownloadFailedNetwork     ResultCode = 503
)

var resultNames = map[ResultCode]string{
	ResultSuccessful:                "Successful",
	ResultClientError:               "ManagementClientError",
	ResultUserCancelled:             "UserCancelled",
	ResultCorruptedPackage:          "CorruptedFirmwareUpdatePackage",
	ResultPackageMismatch:           "FirmwareUpdatePackageDeviceMismatch",
	ResultFailedValidation:          "FailedFirmwareUpdatePackageValidation",
	ResultPackageNotAcceptable:      "FirmwareUpdatePackageNotAcceptable",
	ResultDownloadAuthFailure:       "AlternateDownloadAuthenticationFailure",
	ResultDownloadTimeout:           "AlternateDownloadRequestTimeOut",
	ResultNotImplemented:            "NotImplemented",
	ResultUndefinedError:            "UndefinedError",
	ResultUpdateFailed:              "FirmwareUpdateFailed",
	ResultBadURL:                    "MalformedOrBadURL",
	ResultDownloadServerUnavailable: "AlternateDownloadServerUnavailable",
	ResultDownloadServerError:       "AlternateDownloadServerError",
	ResultDownloadFailedOutOfMemory: "DownloadFailedOutOfMemory",
	ResultUpdateFailedOutOfMemory:   "UpdateFailedOutOfMemory",
	ResultDownloadFailedNetwork:     "DownloadFailedNetworkIssues",
}

// Class groups result codes by the ranges of FUMO 1.0.
type Class int

const (
	ClassUnknown     Class = iota // outside every range the spec defines
	ClassSuccess                  // 200, 250-299
	ClassClientError              // 400-412, 450-499: the device failed
	ClassServerError              // 500-503, 550-599: download server or memory
)

func (c Class) String() string {
	switch c {
	case ClassSuccess:
		return "success"
	case ClassClientError:
		return "client_error"
	case ClassServerError:
		return "server_error"
	}
	return "unknown"
}

// Class classifies r by range, vendor-specific codes included.
func (r ResultCode) Class() Class {
	switch {
	case r == 200, r >= 250 && r <= 299:
		return ClassSuccess
	case r >= 400 && r <= 412, r >= 450 && r <= 499:
		return ClassClientError
	case r >= 500 && r <= 503, r >= 550 && r <= 599:
		return ClassServerError
	}
	return ClassUnknown
}

// Successful reports whether the update (or download) succeeded.
func (r ResultCode) Successful() bool { return r.Class() == ClassSuccess }

// VendorSpecific reports whether r lies in a vendor range (250-299,
// 450-499, 550-599).
func (r ResultCode) VendorSpecific() bool {
	return r >= 250 && r <= 299 || r >= 450 && r <= 499 || r >= 550 && r <= 599
}

func (r ResultCode) String() string {
	if n, ok := resultNames[r]; ok {
		return n
	}
	switch {
	case r >= 250 && r <= 299:
		return "VendorSuccess(" + strconv.Itoa(int(r)) + ")"
	case r >= 450 && r <= 499:
		return "VendorClientError(" + strconv.Itoa(int(r)) + ")"
	case r >= 550 && r <= 599:
		return "VendorServerError(" + strconv.Itoa(int(r)) + ")"
	}
	return "ResultCode(" + strconv.Itoa(int(r)) + ")"
}

// ParseResultCode reads the Data of a FUMO alert item: a number of three
// digits (any value is kept; Class says whether the spec defines it).
func ParseResultCode(s string) (ResultCode, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 999 {
		return 0, fmt.Errorf("fumo: result code %q is not a three-digit number: %w", s, ErrBadValue)
	}
	return ResultCode(n), nil
}
