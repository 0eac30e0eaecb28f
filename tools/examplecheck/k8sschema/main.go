// Command k8sschema writes JSON Schemas of the Kubernetes kinds the
// examples use, generated from the k8s.io/api Go types, in the layout
// kubeconform reads with
//
//	-schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'
//
// so that `make test` validates the example manifests without a network
// (kubeconform otherwise downloads its schemas from GitHub). Every object
// refuses fields its Go type does not have (additionalProperties: false),
// every field must have its Go type's JSON type, and the enumerations the
// examples rely on (enums below) must hold one of their constants.
// Required fields are not checked.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// kinds are the kinds written, by kubeconform's file name of each
// (kind in lower case, then -group-version, the group's first label).
var kinds = map[string]any{
	"job-batch-v1":             batchv1.Job{},
	"cronjob-batch-v1":         batchv1.CronJob{},
	"configmap-v1":             corev1.ConfigMap{},
	"secret-v1":                corev1.Secret{},
	"persistentvolumeclaim-v1": corev1.PersistentVolumeClaim{},
	"pod-v1":                   corev1.Pod{},
	"serviceaccount-v1":        corev1.ServiceAccount{},
}

func main() {
	out := flag.String("out", "", "directory to write the schemas into")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "k8sschema: -out DIR is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
	for name, v := range kinds {
		g := &generator{defs: map[string]any{}}
		root := g.schema(reflect.TypeOf(v))
		doc := map[string]any{"$schema": "http://json-schema.org/draft-07/schema#", "definitions": g.defs}
		for k, x := range root {
			doc[k] = x
		}
		b, err := json.MarshalIndent(doc, "", " ")
		if err == nil {
			err = os.WriteFile(filepath.Join(*out, name+".json"), b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "k8sschema:", err)
			os.Exit(1)
		}
	}
}

// enums are the string types whose values the examples' meaning rests on,
// with the constants k8s.io/api declares for them.
var enums = map[reflect.Type][]string{
	reflect.TypeOf(batchv1.CompletionMode("")): {string(batchv1.NonIndexedCompletion), string(batchv1.IndexedCompletion)},
	reflect.TypeOf(batchv1.PodFailurePolicyAction("")): {string(batchv1.PodFailurePolicyActionFailJob), string(batchv1.PodFailurePolicyActionFailIndex),
		string(batchv1.PodFailurePolicyActionIgnore), string(batchv1.PodFailurePolicyActionCount)},
	reflect.TypeOf(batchv1.PodFailurePolicyOnExitCodesOperator("")): {string(batchv1.PodFailurePolicyOnExitCodesOpIn), string(batchv1.PodFailurePolicyOnExitCodesOpNotIn)},
	reflect.TypeOf(corev1.RestartPolicy("")):                        {string(corev1.RestartPolicyAlways), string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)},
	reflect.TypeOf(corev1.ContainerRestartPolicy("")):               {string(corev1.ContainerRestartPolicyAlways), string(corev1.ContainerRestartPolicyNever), string(corev1.ContainerRestartPolicyOnFailure)},
	reflect.TypeOf(corev1.PersistentVolumeAccessMode("")):           {string(corev1.ReadWriteOnce), string(corev1.ReadOnlyMany), string(corev1.ReadWriteMany), string(corev1.ReadWriteOncePod)},
	reflect.TypeOf(corev1.SecretType("")): {string(corev1.SecretTypeOpaque), string(corev1.SecretTypeServiceAccountToken), string(corev1.SecretTypeDockercfg),
		string(corev1.SecretTypeDockerConfigJson), string(corev1.SecretTypeBasicAuth), string(corev1.SecretTypeSSHAuth), string(corev1.SecretTypeTLS), string(corev1.SecretTypeBootstrapToken)},
}

// generator turns Go types into JSON Schema, each struct once, under
// definitions.
type generator struct{ defs map[string]any }

var (
	quantity    = reflect.TypeOf(resource.Quantity{})
	intOrString = reflect.TypeOf(intstr.IntOrString{})
	metaTime    = reflect.TypeOf(metav1.Time{})
	microTime   = reflect.TypeOf(metav1.MicroTime{})
	duration    = reflect.TypeOf(metav1.Duration{})
	rawExt      = reflect.TypeOf(runtime.RawExtension{})
)

// schema is the JSON Schema of t as encoding/json writes a value of it.
func (g *generator) schema(t reflect.Type) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	switch t {
	case quantity:
		return map[string]any{"type": []string{"string", "number"}}
	case intOrString:
		return map[string]any{"type": []string{"string", "integer"}}
	case metaTime, microTime:
		return map[string]any{"type": []string{"string", "null"}}
	case duration:
		return map[string]any{"type": "string"}
	case rawExt:
		return map[string]any{}
	}
	typ := func(name string) map[string]any {
		if nullable {
			return map[string]any{"type": []string{name, "null"}}
		}
		return map[string]any{"type": name}
	}
	if values, ok := enums[t]; ok {
		return map[string]any{"enum": values}
	}
	switch t.Kind() {
	case reflect.String:
		return typ("string")
	case reflect.Bool:
		return typ("boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return typ("integer")
	case reflect.Float32, reflect.Float64:
		return typ("number")
	case reflect.Interface:
		return map[string]any{}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": []string{"string", "null"}} // base64
		}
		return map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		name := strings.ReplaceAll(t.PkgPath()+"."+t.Name(), "/", ".")
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // being written: a type that refers to itself finds it
			props := map[string]any{}
			g.fields(t, props)
			g.defs[name] = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	}
	panic("k8sschema: no schema for " + t.String())
}

// fields adds the JSON fields of struct t to props, inlined ones too.
func (g *generator) fields(t reflect.Type, props map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			g.fields(ft, props)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
	}
}
