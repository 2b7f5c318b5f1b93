// Command dra-oracle runs the upstream structured allocator of Kubernetes
// (k8s.io/dynamic-resource-allocation/structured) on cases read from stdin, so dralloc's
// allocator can be compared with it.
//
// Batch mode: every stdin line is one JSON case, every stdout line the JSON answer to it, in
// the same order, so one process serves a whole test session. A case reads:
//
//	{"id": "case-17",
//	 "features": {"AdminAccess": true, ...},   // absent keys take Kubernetes 1.36's defaults
//	 "allocator": "",                          // "", "stable", "incubating" or "experimental"
//	 "node": {...core/v1 Node...},
//	 "slices": [...], "classes": [...],        // resource.k8s.io/v1 ResourceSlices, DeviceClasses
//	 "allocatedClaims": [...],                 // ResourceClaims whose status.allocation is held
//	 "claims": [...],                          // ResourceClaims to allocate together, in order
//	 "timeoutSeconds": 10}
//
// and its answer is one of
//
//	{"id": ..., "status": "allocated", "results": [...AllocationResult, one per claim...]}
//	{"id": ..., "status": "unfit"}
//	{"id": ..., "status": "node-failure", "message": ...}   // errors.Is(err, ErrFailedAllocationOnNode)
//	{"id": ..., "status": "error", "message": ...}          // any other error, timeouts and bad input included
//
// Inputs are used as given: defaulting is the caller's job, as the API server does it before
// the scheduler ever sees an object. DeviceTaintRules are not read; merge their taints into the
// slices first. The program does no I/O besides stdin and stdout.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/dynamic-resource-allocation/cel"
	"k8s.io/dynamic-resource-allocation/structured"
)

// A case as read from one stdin line.
type oracleCase struct {
	ID              string                       `json:"id"`
	Features        map[string]bool              `json:"features"`
	Allocator       string                       `json:"allocator"`
	Node            *v1.Node                     `json:"node"`
	Slices          []*resourceapi.ResourceSlice `json:"slices"`
	Classes         []*resourceapi.DeviceClass   `json:"classes"`
	AllocatedClaims []*resourceapi.ResourceClaim `json:"allocatedClaims"`
	Claims          []*resourceapi.ResourceClaim `json:"claims"`
	TimeoutSeconds  float64                      `json:"timeoutSeconds"`
}

// An answer as written to one stdout line.
type answer struct {
	ID      string                         `json:"id"`
	Status  string                         `json:"status"`
	Results []resourceapi.AllocationResult `json:"results,omitempty"`
	Message string                         `json:"message,omitempty"`
}

// Kubernetes 1.36's defaults for the gates the allocator reads (GA and beta on, alpha off).
// DeviceBinding and DeviceStatus stand for DRADeviceBindingConditions and
// DRAResourceClaimDeviceStatus: the allocator's DeviceBindingAndStatus needs both, as in the
// scheduler's DynamicResources plugin.
var defaultFeatures = map[string]bool{
	"AdminAccess":          true,
	"PrioritizedList":      true,
	"PartitionableDevices": true,
	"DeviceTaints":         true,
	"DeviceBinding":        true,
	"DeviceStatus":         true,
	"ConsumableCapacity":   true,
	"ListTypeAttributes":   false,
}

func gate(given map[string]bool, name string) bool {
	if value, ok := given[name]; ok {
		return value
	}
	return defaultFeatures[name]
}

func featuresOf(given map[string]bool) (structured.Features, error) {
	for name := range given {
		if _, known := defaultFeatures[name]; !known {
			return structured.Features{}, fmt.Errorf("unknown feature %q", name)
		}
	}
	return structured.Features{
		AdminAccess:            gate(given, "AdminAccess"),
		PrioritizedList:        gate(given, "PrioritizedList"),
		PartitionableDevices:   gate(given, "PartitionableDevices"),
		DeviceTaints:           gate(given, "DeviceTaints"),
		DeviceBindingAndStatus: gate(given, "DeviceBinding") && gate(given, "DeviceStatus"),
		ConsumableCapacity:     gate(given, "ConsumableCapacity"),
		ListTypeAttributes:     gate(given, "ListTypeAttributes"),
	}, nil
}

// classLister serves the case's DeviceClasses by name.
type classLister map[string]*resourceapi.DeviceClass

func (l classLister) List() ([]*resourceapi.DeviceClass, error) {
	out := make([]*resourceapi.DeviceClass, 0, len(l))
	for _, class := range l {
		out = append(out, class)
	}
	return out, nil
}

func (l classLister) Get(name string) (*resourceapi.DeviceClass, error) {
	class, ok := l[name]
	if !ok {
		return nil, fmt.Errorf("deviceclass %q not found", name)
	}
	return class, nil
}

// allocatedStateOf records what the allocated claims hold, as kube-scheduler's DRA plugin
// does (pkg/scheduler/framework/plugins/dynamicresources, foreachAllocatedDevice):
// admin-access results block nothing; with consumable capacity on, a result with a shareID
// holds one share and its consumed capacity; any other result, and with consumable capacity
// off every result, holds its device exclusively.
func allocatedStateOf(claims []*resourceapi.ResourceClaim, consumableCapacity bool) structured.AllocatedState {
	state := structured.AllocatedState{
		AllocatedDevices:         sets.New[structured.DeviceID](),
		AllocatedSharedDeviceIDs: sets.New[structured.SharedDeviceID](),
		AggregatedCapacity:       structured.NewConsumedCapacityCollection(),
	}
	for _, claim := range claims {
		if claim == nil || claim.Status.Allocation == nil {
			continue
		}
		for _, result := range claim.Status.Allocation.Devices.Results {
			if result.AdminAccess != nil && *result.AdminAccess {
				continue
			}
			id := structured.MakeDeviceID(result.Driver, result.Pool, result.Device)
			if consumableCapacity && result.ShareID != nil {
				state.AllocatedSharedDeviceIDs.Insert(structured.MakeSharedDeviceID(id, result.ShareID))
				consumed := map[resourceapi.QualifiedName]resource.Quantity{}
				for name, quantity := range result.ConsumedCapacity {
					consumed[name] = quantity
				}
				state.AggregatedCapacity.Insert(structured.NewDeviceConsumedCapacity(id, consumed))
				continue
			}
			state.AllocatedDevices.Insert(id)
		}
	}
	return state
}

// One CEL cache per CEL feature set: compiled expressions of one set are never served to a
// case that runs with another.
var celCaches = map[cel.Features]*cel.Cache{}

func celCacheFor(features structured.Features) *cel.Cache {
	key := cel.Features{
		EnableConsumableCapacity: features.ConsumableCapacity,
		EnableListTypeAttributes: features.ListTypeAttributes,
	}
	cache, ok := celCaches[key]
	if !ok {
		cache = cel.NewCache(100, key)
		celCaches[key] = cache
	}
	return cache
}

func run(c *oracleCase) (out answer) {
	out.ID = c.ID
	defer func() {
		if p := recover(); p != nil {
			out = answer{ID: c.ID, Status: "error", Message: fmt.Sprintf("panic: %v", p)}
		}
	}()
	features, err := featuresOf(c.Features)
	if err != nil {
		return answer{ID: c.ID, Status: "error", Message: "oracle input: " + err.Error()}
	}
	if c.Node == nil {
		return answer{ID: c.ID, Status: "error", Message: "oracle input: no node"}
	}
	switch c.Allocator {
	case "":
		structured.EnableAllocators()
	case "stable", "incubating", "experimental":
		structured.EnableAllocators(c.Allocator)
	default:
		return answer{ID: c.ID, Status: "error", Message: fmt.Sprintf("oracle input: unknown allocator %q", c.Allocator)}
	}
	timeout := c.TimeoutSeconds
	if timeout <= 0 {
		timeout = 10
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeout*float64(time.Second)))
	defer cancel()

	classes := classLister{}
	for _, class := range c.Classes {
		classes[class.Name] = class
	}
	alloc, err := structured.NewAllocator(ctx, features, allocatedStateOf(c.AllocatedClaims, features.ConsumableCapacity), classes, c.Slices, celCacheFor(features))
	if err != nil {
		return answer{ID: c.ID, Status: "error", Message: err.Error()}
	}
	results, err := alloc.Allocate(ctx, c.Node, c.Claims)
	switch {
	case err != nil && errors.Is(err, structured.ErrFailedAllocationOnNode):
		return answer{ID: c.ID, Status: "node-failure", Message: err.Error()}
	case err != nil:
		return answer{ID: c.ID, Status: "error", Message: err.Error()}
	case results == nil:
		return answer{ID: c.ID, Status: "unfit"}
	}
	return answer{ID: c.ID, Status: "allocated", Results: results}
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	for {
		line, readErr := in.ReadBytes('\n')
		if len(line) > 0 && !(len(line) == 1 && line[0] == '\n') {
			var c oracleCase
			var reply answer
			if err := json.Unmarshal(line, &c); err != nil {
				reply = answer{ID: c.ID, Status: "error", Message: "oracle input: " + err.Error()}
			} else {
				reply = run(&c)
			}
			if err := encoder.Encode(reply); err != nil {
				fmt.Fprintln(os.Stderr, "dra-oracle:", err)
				os.Exit(1)
			}
			// The caller waits for each answer before sending the next case.
			if err := out.Flush(); err != nil {
				fmt.Fprintln(os.Stderr, "dra-oracle:", err)
				os.Exit(1)
			}
		}
		if readErr != nil {
			return
		}
	}
}
