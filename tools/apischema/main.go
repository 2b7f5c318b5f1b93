// Command apischema writes the field schema of the Kubernetes kinds dralloc reads, as the API
// server's strict decoding knows them, and the list of every built-in kind.
//
// For every Go type reachable from a kind dralloc reads, the schema gives the JSON name of each
// field and what it holds; dralloc checks input documents against it to report unknown fields,
// as kubectl's default (strict) field validation does. The built-in kinds let dralloc tell a
// misspelled kind of a Kubernetes API group from a custom resource it has no use for.
//
// Usage: go run . > ../../src/dralloc/api/data/apischema.json
// (the version recorded is the k8s.io/api module's, as go.mod pins it)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	admissionregistrationv1alpha1 "k8s.io/api/admissionregistration/v1alpha1"
	admissionregistrationv1beta1 "k8s.io/api/admissionregistration/v1beta1"
	apiserverinternalv1alpha1 "k8s.io/api/apiserverinternal/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	appsv1beta2 "k8s.io/api/apps/v1beta2"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1alpha1 "k8s.io/api/certificates/v1alpha1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	coordinationv1 "k8s.io/api/coordination/v1"
	coordinationv1alpha2 "k8s.io/api/coordination/v1alpha2"
	coordinationv1beta1 "k8s.io/api/coordination/v1beta1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	eventsv1 "k8s.io/api/events/v1"
	eventsv1beta1 "k8s.io/api/events/v1beta1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	flowcontrolv1beta1 "k8s.io/api/flowcontrol/v1beta1"
	flowcontrolv1beta2 "k8s.io/api/flowcontrol/v1beta2"
	flowcontrolv1beta3 "k8s.io/api/flowcontrol/v1beta3"
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	nodev1 "k8s.io/api/node/v1"
	nodev1alpha1 "k8s.io/api/node/v1alpha1"
	nodev1beta1 "k8s.io/api/node/v1beta1"
	policyv1 "k8s.io/api/policy/v1"
	policyv1beta1 "k8s.io/api/policy/v1beta1"
	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1alpha1 "k8s.io/api/rbac/v1alpha1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	resourcev1 "k8s.io/api/resource/v1"
	resourcev1alpha3 "k8s.io/api/resource/v1alpha3"
	resourcev1beta1 "k8s.io/api/resource/v1beta1"
	resourcev1beta2 "k8s.io/api/resource/v1beta2"
	schedulingv1 "k8s.io/api/scheduling/v1"
	schedulingv1alpha2 "k8s.io/api/scheduling/v1alpha2"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	storagev1 "k8s.io/api/storage/v1"
	storagev1alpha1 "k8s.io/api/storage/v1alpha1"
	storagev1beta1 "k8s.io/api/storage/v1beta1"
	storagemigrationv1beta1 "k8s.io/api/storagemigration/v1beta1"
)

// readKinds are the kinds dralloc decodes, by "group/version/Kind" ("v1/Kind" for the core
// group), plus building blocks that dralloc's own schemas of custom resources refer to.
var readKinds = map[string]any{
	"v1/Node":                                       corev1.Node{},
	"v1/Pod":                                        corev1.Pod{},
	"v1/Namespace":                                  corev1.Namespace{},
	"v1/PodTemplateSpec":                            corev1.PodTemplateSpec{},
	"scheduling.k8s.io/v1/PriorityClass":            schedulingv1.PriorityClass{},
	"node.k8s.io/v1/RuntimeClass":                   nodev1.RuntimeClass{},
	"apps/v1/Deployment":                            appsv1.Deployment{},
	"apps/v1/ReplicaSet":                            appsv1.ReplicaSet{},
	"apps/v1/StatefulSet":                           appsv1.StatefulSet{},
	"batch/v1/Job":                                  batchv1.Job{},
	"batch/v1/JobTemplateSpec":                      batchv1.JobTemplateSpec{},
	"resource.k8s.io/v1/DeviceClass":                resourcev1.DeviceClass{},
	"resource.k8s.io/v1/ResourceSlice":              resourcev1.ResourceSlice{},
	"resource.k8s.io/v1/ResourceClaim":              resourcev1.ResourceClaim{},
	"resource.k8s.io/v1/ResourceClaimTemplate":      resourcev1.ResourceClaimTemplate{},
	"resource.k8s.io/v1beta2/DeviceClass":           resourcev1beta2.DeviceClass{},
	"resource.k8s.io/v1beta2/ResourceSlice":         resourcev1beta2.ResourceSlice{},
	"resource.k8s.io/v1beta2/ResourceClaim":         resourcev1beta2.ResourceClaim{},
	"resource.k8s.io/v1beta2/ResourceClaimTemplate": resourcev1beta2.ResourceClaimTemplate{},
	"resource.k8s.io/v1beta2/DeviceTaintRule":       resourcev1beta2.DeviceTaintRule{},
	"resource.k8s.io/v1beta1/DeviceClass":           resourcev1beta1.DeviceClass{},
	"resource.k8s.io/v1beta1/ResourceSlice":         resourcev1beta1.ResourceSlice{},
	"resource.k8s.io/v1beta1/ResourceClaim":         resourcev1beta1.ResourceClaim{},
	"resource.k8s.io/v1beta1/ResourceClaimTemplate": resourcev1beta1.ResourceClaimTemplate{},
	"resource.k8s.io/v1alpha3/DeviceTaintRule":      resourcev1alpha3.DeviceTaintRule{},
}

var installers = []func(*runtime.Scheme) error{
	admissionregistrationv1.AddToScheme,
	admissionregistrationv1alpha1.AddToScheme,
	admissionregistrationv1beta1.AddToScheme,
	apiserverinternalv1alpha1.AddToScheme,
	appsv1.AddToScheme,
	appsv1beta1.AddToScheme,
	appsv1beta2.AddToScheme,
	autoscalingv1.AddToScheme,
	autoscalingv2.AddToScheme,
	batchv1.AddToScheme,
	batchv1beta1.AddToScheme,
	certificatesv1.AddToScheme,
	certificatesv1alpha1.AddToScheme,
	certificatesv1beta1.AddToScheme,
	coordinationv1.AddToScheme,
	coordinationv1alpha2.AddToScheme,
	coordinationv1beta1.AddToScheme,
	corev1.AddToScheme,
	discoveryv1.AddToScheme,
	discoveryv1beta1.AddToScheme,
	eventsv1.AddToScheme,
	eventsv1beta1.AddToScheme,
	extensionsv1beta1.AddToScheme,
	flowcontrolv1.AddToScheme,
	flowcontrolv1beta1.AddToScheme,
	flowcontrolv1beta2.AddToScheme,
	flowcontrolv1beta3.AddToScheme,
	networkingv1.AddToScheme,
	networkingv1beta1.AddToScheme,
	nodev1.AddToScheme,
	nodev1alpha1.AddToScheme,
	nodev1beta1.AddToScheme,
	policyv1.AddToScheme,
	policyv1beta1.AddToScheme,
	rbacv1.AddToScheme,
	rbacv1alpha1.AddToScheme,
	rbacv1beta1.AddToScheme,
	resourcev1.AddToScheme,
	resourcev1alpha3.AddToScheme,
	resourcev1beta1.AddToScheme,
	resourcev1beta2.AddToScheme,
	schedulingv1.AddToScheme,
	schedulingv1alpha2.AddToScheme,
	schedulingv1beta1.AddToScheme,
	storagev1.AddToScheme,
	storagev1alpha1.AddToScheme,
	storagev1beta1.AddToScheme,
	storagemigrationv1beta1.AddToScheme,
}

// A field's value is "int32" or "int64" for an integer (the decoder refuses a number out of
// range), "" for another scalar or for anything decoded by its own UnmarshalJSON (no field
// names to check inside), otherwise a struct type's name, or "[]X" / "map[]X" around one.
type schema struct {
	Version string                       `json:"version"`
	Builtin map[string][]string          `json:"builtin"`
	Kinds   map[string]string            `json:"kinds"`
	Types   map[string]map[string]string `json:"types"`
}

var unmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

func typeName(t reflect.Type) string {
	path := strings.TrimPrefix(t.PkgPath(), "k8s.io/api/")
	path = strings.TrimPrefix(path, "k8s.io/apimachinery/pkg/apis/")
	return path + "." + t.Name()
}

func describe(t reflect.Type, out map[string]map[string]string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
		return ""
	}
	switch t.Kind() {
	case reflect.Struct:
		name := typeName(t)
		if _, seen := out[name]; !seen {
			fields := map[string]string{}
			out[name] = fields
			addFields(t, fields, out)
		}
		return name
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "" // []byte travels as a base64 string
		}
		if inner := describe(t.Elem(), out); inner != "" {
			return "[]" + inner
		}
		return ""
	case reflect.Map:
		if inner := describe(t.Elem(), out); inner != "" {
			return "map[]" + inner
		}
		return ""
	case reflect.Int32:
		return "int32"
	case reflect.Int64, reflect.Int:
		return "int64"
	default:
		return ""
	}
}

func addFields(t reflect.Type, fields map[string]string, out map[string]map[string]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		parts := strings.Split(tag, ",")
		name := parts[0]
		inline := false
		for _, option := range parts[1:] {
			inline = inline || option == "inline"
		}
		if (f.Anonymous && name == "") || inline {
			embedded := f.Type
			for embedded.Kind() == reflect.Pointer {
				embedded = embedded.Elem()
			}
			addFields(embedded, fields, out)
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = describe(f.Type, out)
	}
}

func builtinKinds() map[string][]string {
	scheme := runtime.NewScheme()
	for _, install := range installers {
		if err := install(scheme); err != nil {
			panic(err)
		}
	}
	byVersion := map[string][]string{}
	for gvk, t := range scheme.AllKnownTypes() {
		meta, ok := t.FieldByName("ObjectMeta")
		if !ok || meta.Type.Name() != "ObjectMeta" || strings.HasSuffix(gvk.Kind, "List") {
			continue // options, lists and other types that are not stored objects
		}
		byVersion[gvk.GroupVersion().String()] = append(byVersion[gvk.GroupVersion().String()], gvk.Kind)
	}
	for _, kinds := range byVersion {
		sort.Strings(kinds)
	}
	return byVersion
}

func apiVersion() string {
	info, ok := debug.ReadBuildInfo()
	if ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/api" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func main() {
	out := schema{
		Version: apiVersion(),
		Builtin: builtinKinds(),
		Kinds:   map[string]string{},
		Types:   map[string]map[string]string{},
	}
	names := make([]string, 0, len(readKinds))
	for key := range readKinds {
		names = append(names, key)
	}
	sort.Strings(names)
	for _, key := range names {
		out.Kinds[key] = describe(reflect.TypeOf(readKinds[key]), out.Types)
	}
	encoded, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(append(encoded, '\n'))
}
