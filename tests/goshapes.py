"""Synthetic Go trees shaped like the parts of Argo Workflows that the patch and harness touch.

Our own small Go module, not Argo's code: just enough declarations, with the signatures and
bodies of each release line's shape, for detection and rendering, and for ``go vet`` and a
``go test`` of the patched code without the network. Shapes:

- ``v3.5``: addMetadata ranges into ``pod.ObjectMeta``; no context parameters; a logrus-like logger.
- ``v3.7``: ranges into ``pod``; template resolution merges podMetadata (``addPodMetadata``).
- ``v4``: ``maps.Copy``; context-first template context and test helpers; a structured logger;
  the module path ends in ``/v4``.
- ``unknown``: ``v3.5`` whose addMetadata delegates to a helper: no known shape.

Variants that exercise the imports of the patched files (patcher/patching/goimports.py):

- ``v4.0``: ``v4`` whose context.go imports ``maps`` only for addPodMetadata, which the patch
  deletes: the import must go.
- ``v3.7-apierr-sibling``: ``v3.7`` whose GetTemplateFromRef does not call ``apierr.IsNotFound``
  and whose context.go does not import apierr, but another file of the package does: the
  rendered GetTemplateFromRef uses apierr, which the patch never adds, so it is refused.
- ``v3.7-apierr-nowhere``: the same without that other file (only a test file imports apierr):
  refused too.
"""

from __future__ import annotations

from pathlib import Path

SHAPES = ("v3.5", "v3.7", "v4", "unknown", "v4.0", "v3.7-apierr-sibling", "v3.7-apierr-nowhere")
# The release line each variant belongs to; the base shapes are their own.
_LINE_OF_VARIANT = {"v4.0": "v4", "v3.7-apierr-sibling": "v3.7", "v3.7-apierr-nowhere": "v3.7"}
_MAPS_IN_RESOLUTION = ("v4.0",)
_NO_APIERR_IN_RESOLUTION = ("v3.7-apierr-sibling", "v3.7-apierr-nowhere")

_TYPES = """package v1alpha1

type ResourceScope string

const (
	ResourceScopeLocal      ResourceScope = "local"
	ResourceScopeNamespaced ResourceScope = "namespaced"
	ResourceScopeCluster    ResourceScope = "cluster"
)

type Metadata struct {
	Annotations map[string]string
	Labels      map[string]string
}

type Template struct {
	Name     string
	Metadata Metadata
}

func (t *Template) DeepCopy() *Template {
	c := *t
	c.Metadata = Metadata{Annotations: copyMap(t.Metadata.Annotations), Labels: copyMap(t.Metadata.Labels)}
	return &c
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := map[string]string{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

type TemplateRef struct {
	Name         string
	Template     string
	ClusterScope bool
}

type WorkflowSpec struct {
	Templates   []Template
	PodMetadata *Metadata
}

type TemplateReferenceHolder interface {
	GetTemplateRef() *TemplateRef
	GetTemplateName() string
}

type TemplateHolder interface {
	GetName() string
	GetTemplateByName(name string) *Template
	GetResourceScope() ResourceScope
	GetPodMetadata() *Metadata
}

type holder struct {
	Name string
	Spec WorkflowSpec
}

func (h *holder) GetName() string { return h.Name }

func (h *holder) GetPodMetadata() *Metadata { return h.Spec.PodMetadata }

func (h *holder) GetTemplateByName(name string) *Template {
	for _, t := range h.Spec.Templates {
		if t.Name == name {
			return &t
		}
	}
	return nil
}

type WorkflowTemplate struct{ holder }

func (*WorkflowTemplate) GetResourceScope() ResourceScope { return ResourceScopeNamespaced }

type ClusterWorkflowTemplate struct{ holder }

func (*ClusterWorkflowTemplate) GetResourceScope() ResourceScope { return ResourceScopeCluster }

type Workflow struct {
	holder
	Status WorkflowStatus
}

func (*Workflow) GetResourceScope() ResourceScope { return ResourceScopeLocal }

func NewWorkflowTemplate(name string, spec WorkflowSpec) *WorkflowTemplate {
	return &WorkflowTemplate{holder{name, spec}}
}

func NewClusterWorkflowTemplate(name string, spec WorkflowSpec) *ClusterWorkflowTemplate {
	return &ClusterWorkflowTemplate{holder{name, spec}}
}

func NewWorkflow(name string, spec WorkflowSpec) *Workflow {
	return &Workflow{holder: holder{name, spec}, Status: WorkflowStatus{Nodes: Nodes{}}}
}

type WorkflowStatus struct {
	Nodes Nodes
}

type Nodes map[string]NodeStatus

type NodeStatus struct {
	ID            string
	TemplateName  string
	TemplateRef   *TemplateRef
	TemplateScope string
}

func (n NodeStatus) GetTemplateScope() (ResourceScope, string) {
	for i := 0; i < len(n.TemplateScope); i++ {
		if n.TemplateScope[i] == '/' {
			return ResourceScope(n.TemplateScope[:i]), n.TemplateScope[i+1:]
		}
	}
	return ResourceScopeLocal, ""
}

func (n *NodeStatus) GetTemplateRef() *TemplateRef { return n.TemplateRef }

func (n *NodeStatus) GetTemplateName() string { return n.TemplateName }
"""

_MARSHALL = """package v1alpha1

func MustUnmarshal(text, v interface{}) {}
"""

_COMMON = """package common

const (
	AnnotationKeyNodeID = "workflows.argoproj.io/node-id"
	LabelKeyWorkflow    = "workflows.argoproj.io/workflow"
)
"""

_ERRORS = """package errors

import "fmt"

const CodeNotFound = "ERR_NOT_FOUND"

func Errorf(code, format string, args ...interface{}) error {
	return fmt.Errorf(code+": "+format, args...)
}
"""

_COREV1 = """package corev1

type ObjectMeta struct {
	Name        string
	Labels      map[string]string
	Annotations map[string]string
}

type Pod struct {
	ObjectMeta
}

type PodPhase string
"""

_APIERR = """package apierr

import "errors"

var ErrNotFound = errors.New("not found")

func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
"""

_LOGRUS = """package logrus

import "fmt"

type Entry struct{ Lines []string }

func (e *Entry) WithField(key string, value interface{}) *Entry { return e }

func (e *Entry) WithError(err error) *Entry { return e }

func (e *Entry) Warn(args ...interface{}) { e.Lines = append(e.Lines, fmt.Sprint(args...)) }

func (e *Entry) Debug(args ...interface{}) {}

func (e *Entry) Debugf(format string, args ...interface{}) {}
"""

_LOGGING = """package logging

import "context"

type Logger interface {
	WithField(name string, value any) Logger
	WithError(err error) Logger
	Debug(ctx context.Context, msg string)
	Warn(ctx context.Context, msg string)
	NewBackgroundContext() context.Context
}

type nop struct{}

func (n nop) WithField(string, any) Logger { return n }

func (n nop) WithError(error) Logger { return n }

func (nop) Debug(context.Context, string) {}

func (nop) Warn(context.Context, string) {}

func (nop) NewBackgroundContext() context.Context { return context.Background() }

func New() Logger { return nop{} }

func TestContext(ctx context.Context) context.Context { return ctx }

func RequireLoggerFromContext(ctx context.Context) Logger { return nop{} }
"""

# A clientset's packages, as far as the resolution test helpers name them.
_CLIENTSET = """package versioned

type Interface interface{}
"""
_TYPED = """package v1alpha1

type WorkflowTemplateInterface interface{}

type ClusterWorkflowTemplateInterface interface{}
"""
_FAKE = """package fake

type Clientset struct{}

func NewSimpleClientset() *Clientset { return &Clientset{} }
"""
_FAKE_V4 = _FAKE + """
var NewClientset = NewSimpleClientset
"""

# The test files the upstream-style test goes into, with the helpers it calls.
_TEMPLATE_REF_TEST = """package controller

import "testing"

func TestSyntheticTemplateRef(t *testing.T) {}
"""

_V4 = "v4"


def _line(shape: str) -> str:
    return _LINE_OF_VARIANT.get(shape, shape)


def _resolution_test(shape: str, m: str) -> str:
    """context_test.go: createWorkflowTemplate and unmarshalWftmpl as the release's tests have them."""
    ctx = _line(shape) == _V4
    cp = "ctx context.Context, " if ctx else ""
    apierr = shape in _NO_APIERR_IN_RESOLUTION
    imports = [*(['"context"'] if ctx else []), '"testing"', ""]
    imports += _sorted_imports(*([f'apierr "{m}/internal/k8s/api/errors"'] if apierr else []), f'wfv1 "{m}/pkg/apis/workflow/v1alpha1"',
                               f'wfclientset "{m}/pkg/client/clientset/versioned"').splitlines()  # fmt: skip
    not_found = """
func TestNotFound(t *testing.T) {
	if !apierr.IsNotFound(apierr.ErrNotFound) {
		t.Error("not found is found")
	}
}
""" if apierr else """
func TestSyntheticResolution(t *testing.T) {}
"""
    block = "\n".join(f"\t{line.strip()}" if line.strip() else "" for line in imports)
    return f"""package templateresolution

import (
{block}
)

func createWorkflowTemplate({cp}wfClientset wfclientset.Interface, yamlStr string) error {{
	return nil
}}

func unmarshalWftmpl(yamlStr string) *wfv1.WorkflowTemplate {{
	return &wfv1.WorkflowTemplate{{}}
}}
{not_found}"""


def _resolution(shape: str, m: str) -> str:
    ctx = _line(shape) == _V4
    recv, rtype = ("tplCtx", "TemplateContext") if ctx else ("ctx", "Context")
    cp, ca = ("ctx context.Context, ", "ctx, ") if ctx else ("", "")
    logger_import = f'"{m}/util/logging"' if ctx else f'log "{m}/internal/logrus"'
    logger_type = "logging.Logger" if ctx else "*log.Entry"
    debug = (lambda msg: f'{recv}.log.Debug(ctx, "{msg}")') if ctx else (lambda msg: f'{recv}.log.Debug("{msg}")')
    merges = _line(shape) in ("v3.7", _V4)
    merge_by_name = f"\n\t{recv}.addPodMetadata({recv}.tmplBase.GetPodMetadata(), tmpl)\n" if merges else ""
    merge_from_ref = f"\n\t{recv}.addPodMetadata(wftmpl.GetPodMetadata(), template)\n" if merges else ""
    uses_maps = shape in _MAPS_IN_RESOLUTION
    if uses_maps:
        copy_labels = "\tmaps.Copy(tmpl.Metadata.Labels, podMetadata.Labels)"
    else:
        copy_labels = _range_copy("podMetadata.Labels", "tmpl.Metadata.Labels")
    add_pod_metadata = (
        f"""
// addPodMetadata copies podMetadata into the template's metadata.
func ({recv} *{rtype}) addPodMetadata(podMetadata *wfv1.Metadata, tmpl *wfv1.Template) {{
	if podMetadata == nil {{
		return
	}}
	if tmpl.Metadata.Labels == nil {{
		tmpl.Metadata.Labels = map[string]string{{}}
	}}
{copy_labels}
}}
"""
        if merges
        else ""
    )
    std_imports = [spec for spec, wanted in (('"context"', ctx), ('"maps"', uses_maps)) if wanted]
    std_group = "".join(f"\t{spec}\n" for spec in std_imports) + ("\n" if std_imports else "")
    has_apierr = shape not in _NO_APIERR_IN_RESOLUTION
    module_specs = [f'"{m}/errors"', logger_import, f'wfv1 "{m}/pkg/apis/workflow/v1alpha1"', f'typed "{m}/pkg/client/clientset/versioned/typed/workflow/v1alpha1"']
    imports = _sorted_imports(*module_specs, *([f'apierr "{m}/internal/apierr"'] if has_apierr else []))
    not_found = (
        """
		if apierr.IsNotFound(err) {
			return nil, errors.Errorf(errors.CodeNotFound, "workflow template %s not found", tmplRef.Name)
		}"""
        if has_apierr
        else ""
    )
    return f"""package templateresolution

import (
{std_group}{imports}
)

type WorkflowTemplateNamespacedGetter interface {{
	Get({cp}name string) (*wfv1.WorkflowTemplate, error)
}}

type ClusterWorkflowTemplateGetter interface {{
	Get({cp}name string) (*wfv1.ClusterWorkflowTemplate, error)
}}

// {rtype} is a context of template search.
type {rtype} struct {{
	wftmplGetter  WorkflowTemplateNamespacedGetter
	cwftmplGetter ClusterWorkflowTemplateGetter
	tmplBase      wfv1.TemplateHolder
	log           {logger_type}
}}

func NewContext(wftmplGetter WorkflowTemplateNamespacedGetter, cwftmplGetter ClusterWorkflowTemplateGetter, tmplBase wfv1.TemplateHolder, log {logger_type}) *{rtype} {{
	return &{rtype}{{wftmplGetter: wftmplGetter, cwftmplGetter: cwftmplGetter, tmplBase: tmplBase, log: log}}
}}

// NewContextFromClientSet is a context whose templates come from clients.
func NewContextFromClientSet(wftmplClientset typed.WorkflowTemplateInterface, clusterWftmplClient typed.ClusterWorkflowTemplateInterface, tmplBase wfv1.TemplateHolder, workflow *wfv1.Workflow{", log logging.Logger" if ctx else ""}) *{rtype} {{
	return &{rtype}{{tmplBase: tmplBase}}
}}

// GetTemplateByName returns a template by name in the context.
func ({recv} *{rtype}) GetTemplateByName({cp}name string) (*wfv1.Template, error) {{
	{debug("by name")}
	tmpl := {recv}.tmplBase.GetTemplateByName(name)
	if tmpl == nil {{
		return nil, errors.Errorf(errors.CodeNotFound, "template %s not found", name)
	}}{merge_by_name}
	return tmpl.DeepCopy(), nil
}}

func ({recv} *{rtype}) GetTemplateGetterFromRef({cp}tmplRef *wfv1.TemplateRef) (wfv1.TemplateHolder, error) {{
	if tmplRef.ClusterScope {{
		return {recv}.cwftmplGetter.Get({ca}tmplRef.Name)
	}}
	return {recv}.wftmplGetter.Get({ca}tmplRef.Name)
}}

// GetTemplateFromRef returns a template found by a given template ref.
func ({recv} *{rtype}) GetTemplateFromRef({cp}tmplRef *wfv1.TemplateRef) (*wfv1.Template, error) {{
	{debug("from ref")}
	var wftmpl wfv1.TemplateHolder
	var err error
	if tmplRef.ClusterScope {{
		wftmpl, err = {recv}.cwftmplGetter.Get({ca}tmplRef.Name)
	}} else {{
		wftmpl, err = {recv}.wftmplGetter.Get({ca}tmplRef.Name)
	}}
	if err != nil {{{not_found}
		return nil, err
	}}
	template := wftmpl.GetTemplateByName(tmplRef.Template){merge_from_ref}
	if template == nil {{
		return nil, errors.Errorf(errors.CodeNotFound, "template %s not found in workflow template %s", tmplRef.Template, tmplRef.Name)
	}}
	return template.DeepCopy(), nil
}}

// GetCurrentTemplateBase returns the current template base of the context.
func ({recv} *{rtype}) GetCurrentTemplateBase() wfv1.TemplateHolder {{
	return {recv}.tmplBase
}}

// WithTemplateHolder creates new context with a template base of a given template holder.
func ({recv} *{rtype}) WithTemplateHolder({cp}tmplHolder wfv1.TemplateReferenceHolder) (*{rtype}, error) {{
	if tmplRef := tmplHolder.GetTemplateRef(); tmplRef != nil {{
		if tmplRef.ClusterScope {{
			return {recv}.WithClusterWorkflowTemplate({ca}tmplRef.Name)
		}}
		return {recv}.WithWorkflowTemplate({ca}tmplRef.Name)
	}}
	return {recv}.WithTemplateBase({recv}.tmplBase), nil
}}

func ({recv} *{rtype}) WithTemplateBase(tmplBase wfv1.TemplateHolder) *{rtype} {{
	return NewContext({recv}.wftmplGetter, {recv}.cwftmplGetter, tmplBase, {recv}.log)
}}

func ({recv} *{rtype}) WithWorkflowTemplate({cp}name string) (*{rtype}, error) {{
	wftmpl, err := {recv}.wftmplGetter.Get({ca}name)
	if err != nil {{
		return nil, err
	}}
	return {recv}.WithTemplateBase(wftmpl), nil
}}

func ({recv} *{rtype}) WithClusterWorkflowTemplate({cp}name string) (*{rtype}, error) {{
	cwftmpl, err := {recv}.cwftmplGetter.Get({ca}name)
	if err != nil {{
		return nil, err
	}}
	return {recv}.WithTemplateBase(cwftmpl), nil
}}
{add_pod_metadata}"""


def _range_copy(source: str, target: str) -> str:
    return f"""\tfor k, v := range {source} {{
\t\t{target}[k] = v
\t}}"""


# Like Kubernetes' k8s.io/apimachinery/pkg/api/errors: a package named errors, imported as apierr
# next to Argo's own errors.
_K8S_API_ERRORS_DIR = "internal/k8s/api/errors"
_K8S_API_ERRORS = _APIERR.replace("package apierr", "package errors", 1)

# Another file of the template resolution package, and a test file of it, that use apierr.
_RESOLUTION_SIBLING = """package templateresolution

import (
	apierr "{m}/internal/k8s/api/errors"
)

// IsMissing tells whether err says that a workflow template does not exist.
func IsMissing(err error) bool { return apierr.IsNotFound(err) }
"""



def _add_metadata(shape: str) -> str:
    shape = _line(shape)
    if shape == "unknown":
        return """func (woc *wfOperationCtx) addMetadata(pod *apiv1.Pod, tmpl *wfv1.Template) {
	copyPodMetadata(pod, woc.execWf.Spec.PodMetadata)
	copyPodMetadata(pod, &tmpl.Metadata)
}

func copyPodMetadata(pod *apiv1.Pod, md *wfv1.Metadata) {
	if md == nil {
		return
	}
	for k, v := range md.Labels {
		pod.Labels[k] = v
	}
}"""
    if shape == _V4:
        return """func (woc *wfOperationCtx) addMetadata(pod *apiv1.Pod, tmpl *wfv1.Template) {
	if woc.execWf.Spec.PodMetadata != nil {
		maps.Copy(pod.Annotations, woc.execWf.Spec.PodMetadata.Annotations)
		maps.Copy(pod.Labels, woc.execWf.Spec.PodMetadata.Labels)
	}
	maps.Copy(pod.Annotations, tmpl.Metadata.Annotations)
	maps.Copy(pod.Labels, tmpl.Metadata.Labels)
}"""
    target = "pod.ObjectMeta" if shape == "v3.5" else "pod"

    def loops(source: str, indent: str) -> str:
        return "\n".join(
            f"""{indent}for k, v := range {source}.{field} {{
{indent}	{target}.{field}[k] = v
{indent}}}"""
            for field in ("Annotations", "Labels")
        )

    return f"""func (woc *wfOperationCtx) addMetadata(pod *apiv1.Pod, tmpl *wfv1.Template) {{
	if woc.execWf.Spec.PodMetadata != nil {{
{loops("woc.execWf.Spec.PodMetadata", "		")}
	}}

{loops("tmpl.Metadata", "	")}
}}"""


def _controller_files(shape: str, m: str) -> dict[str, str]:
    ctx = _line(shape) == _V4
    cp, ca = ("ctx context.Context, ", "ctx, ") if ctx else ("", "")
    tctx = "TemplateContext" if ctx else "Context"
    logger_import = f'"{m}/util/logging"' if ctx else f'log "{m}/internal/logrus"'
    logger_type = "logging.Logger" if ctx else "*log.Entry"
    new_logger = "logging.New()" if ctx else "&log.Entry{}"
    maps_import = '\t"maps"\n\n' if ctx else ""
    context_import = '\t"context"\n\n'
    workflowpod = f"""package controller

import (
{maps_import}	apiv1 "{m}/internal/corev1"
	wfv1 "{m}/pkg/apis/workflow/v1alpha1"
	"{m}/workflow/common"
)

func (woc *wfOperationCtx) createWorkflowPod(nodeID string, tmpl *wfv1.Template) *apiv1.Pod {{
	pod := &apiv1.Pod{{ObjectMeta: apiv1.ObjectMeta{{
		Labels:      map[string]string{{common.LabelKeyWorkflow: woc.wf.Name}},
		Annotations: map[string]string{{common.AnnotationKeyNodeID: nodeID}},
	}}}}
	woc.addMetadata(pod, tmpl)
	return pod
}}

// addMetadata applies metadata specified in the template
{_add_metadata(shape)}
"""
    operator = f"""package controller

import (
{context_import}{_sorted_imports(logger_import, f'wfv1 "{m}/pkg/apis/workflow/v1alpha1"', f'"{m}/workflow/templateresolution"')}
)

type wfOperationCtx struct {{
	wf         *wfv1.Workflow
	execWf     *wfv1.Workflow
	controller *WorkflowController
	log        {logger_type}
}}

func newWorkflowOperationCtx({cp}wf *wfv1.Workflow, wfc *WorkflowController) *wfOperationCtx {{
	return &wfOperationCtx{{wf: wf, execWf: wf, controller: wfc, log: {new_logger}}}
}}

func (woc *wfOperationCtx) operate(ctx context.Context) {{}}

func (woc *wfOperationCtx) createTemplateContext({cp}scope wfv1.ResourceScope, resourceName string) (*templateresolution.{tctx}, error) {{
	tplCtx := templateresolution.NewContext(woc.controller.wftmplGetter, woc.controller.cwftmplInformer.Lister(), woc.execWf, woc.log)
	switch scope {{
	case wfv1.ResourceScopeNamespaced:
		return tplCtx.WithWorkflowTemplate({ca}resourceName)
	case wfv1.ResourceScopeCluster:
		return tplCtx.WithClusterWorkflowTemplate({ca}resourceName)
	default:
		return tplCtx, nil
	}}
}}
"""
    controller = f"""package controller

import (
	"{m}/workflow/templateresolution"
)

type ClusterWorkflowTemplateInformer interface {{
	Lister() templateresolution.ClusterWorkflowTemplateGetter
}}

type WorkflowController struct {{
	wftmplGetter    templateresolution.WorkflowTemplateNamespacedGetter
	cwftmplInformer ClusterWorkflowTemplateInformer
}}
"""
    new_controller_params = "ctx context.Context, options ...any" if ctx else "options ...interface{}"
    controller_test = f"""package controller

import (
	"context"

	apiv1 "{m}/internal/corev1"
)

func newController({new_controller_params}) (context.CancelFunc, *WorkflowController) {{
	return func() {{}}, &WorkflowController{{}}
}}

func listPods({cp}woc *wfOperationCtx) ([]apiv1.Pod, error) {{
	return nil, nil
}}

func makePodsPhase(ctx context.Context, woc *wfOperationCtx, phase apiv1.PodPhase, with ...func()) {{}}
"""
    return {
        "workflow/controller/workflowpod.go": workflowpod,
        "workflow/controller/operator.go": operator,
        "workflow/controller/controller.go": controller,
        "workflow/controller/controller_test.go": controller_test,
        "workflow/controller/precedence_check_test.go": _precedence_check(shape, m),
    }


def _precedence_check(shape: str, m: str) -> str:
    """A Go test of the synthetic controller: holder < workflow < template, cached holder untouched."""
    ctx = _line(shape) == _V4
    cp = "_ context.Context, " if ctx else ""
    context_import = '\t"context"\n' if ctx else ""
    return f"""package controller

import (
{context_import}	"reflect"
	"testing"

	apierr "{m}/internal/apierr"
	wfv1 "{m}/pkg/apis/workflow/v1alpha1"
	"{m}/workflow/templateresolution"
)

type fakeCWFTs map[string]*wfv1.ClusterWorkflowTemplate

func (f fakeCWFTs) Get({cp}name string) (*wfv1.ClusterWorkflowTemplate, error) {{
	if t, ok := f[name]; ok {{
		return t, nil
	}}
	return nil, apierr.ErrNotFound
}}

func (f fakeCWFTs) Lister() templateresolution.ClusterWorkflowTemplateGetter {{ return f }}

type noWFTs struct{{}}

func (noWFTs) Get({cp}name string) (*wfv1.WorkflowTemplate, error) {{
	return nil, apierr.ErrNotFound
}}

func TestSyntheticPrecedence(t *testing.T) {{
	holderSpec := func() wfv1.WorkflowSpec {{
		return wfv1.WorkflowSpec{{
			PodMetadata: &wfv1.Metadata{{Labels: map[string]string{{"team": "holder", "tier": "base"}}}},
			Templates:   []wfv1.Template{{{{Name: "main", Metadata: wfv1.Metadata{{Labels: map[string]string{{"own": "main"}}}}}}}},
		}}
	}}
	cwft := wfv1.NewClusterWorkflowTemplate("holder", holderSpec())
	wf := wfv1.NewWorkflow("wf", wfv1.WorkflowSpec{{PodMetadata: &wfv1.Metadata{{Labels: map[string]string{{"team": "workflow"}}}}}})
	wf.Status.Nodes["n1"] = wfv1.NodeStatus{{ID: "n1", TemplateScope: "local/", TemplateRef: &wfv1.TemplateRef{{Name: "holder", Template: "main", ClusterScope: true}}}}
	wf.Status.Nodes["n2"] = wfv1.NodeStatus{{ID: "n2", TemplateScope: "local/", TemplateName: "local"}}
	woc := newWorkflowOperationCtx({"context.Background(), " if ctx else ""}wf, &WorkflowController{{wftmplGetter: noWFTs{{}}, cwftmplInformer: fakeCWFTs{{"holder": cwft}}}})

	pod := woc.createWorkflowPod("n1", &wfv1.Template{{Metadata: wfv1.Metadata{{Labels: map[string]string{{"own": "main"}}}}}})
	want := map[string]string{{"workflows.argoproj.io/workflow": "wf", "team": "workflow", "tier": "base", "own": "main"}}
	if !reflect.DeepEqual(pod.Labels, want) {{
		t.Errorf("templateRef pod labels = %v, want %v", pod.Labels, want)
	}}
	pod = woc.createWorkflowPod("n2", &wfv1.Template{{}})
	want = map[string]string{{"workflows.argoproj.io/workflow": "wf", "team": "workflow"}}
	if !reflect.DeepEqual(pod.Labels, want) {{
		t.Errorf("local pod labels = %v, want %v", pod.Labels, want)
	}}

	tplCtx := templateresolution.NewContext(noWFTs{{}}, fakeCWFTs{{"holder": cwft}}, wf, woc.log)
	if _, err := tplCtx.GetTemplateFromRef({"context.Background(), " if ctx else ""}&wfv1.TemplateRef{{Name: "holder", Template: "absent", ClusterScope: true}}); err == nil {{
		t.Error("a missing template was found")
	}}
	if _, err := tplCtx.GetTemplateFromRef({"context.Background(), " if ctx else ""}&wfv1.TemplateRef{{Name: "holder", Template: "main", ClusterScope: true}}); err != nil {{
		t.Error(err)
	}}
	if !reflect.DeepEqual(cwft.Spec, holderSpec()) {{
		t.Errorf("the cached holder changed: %v", cwft.Spec)
	}}
}}
"""


def _sorted_imports(*specs: str) -> str:
    """Import lines in gofmt's order: by path, whatever the alias."""
    return "\n".join("\t" + spec for spec in sorted(specs, key=lambda spec: spec.split('"')[1]))


def make_tree(root: Path, shape: str) -> Path:
    """Write the synthetic tree of ``shape`` under ``root``; return ``root``."""
    if shape not in SHAPES:
        raise ValueError(shape)
    v4 = _line(shape) == _V4
    module = "example.com/argo-workflows/" + ("v4" if v4 else "v3")
    go_line = "1.22" if v4 else "1.21"
    files = {
        "go.mod": f"module {module}\n\ngo {go_line}\n\nrequire github.com/stretchr/testify v1.8.4\n",
        "pkg/apis/workflow/v1alpha1/types.go": _TYPES,
        "pkg/apis/workflow/v1alpha1/marshall.go": _MARSHALL,
        "workflow/common/common.go": _COMMON,
        "errors/errors.go": _ERRORS,
        "internal/corev1/corev1.go": _COREV1,
        "internal/apierr/apierr.go": _APIERR,
        "internal/logrus/logrus.go": _LOGRUS,
        "workflow/templateresolution/context.go": _resolution(shape, module),
        **_controller_files(shape, module),
    }
    files.update({
        "pkg/client/clientset/versioned/clientset.go": _CLIENTSET,
        "pkg/client/clientset/versioned/typed/workflow/v1alpha1/typed.go": _TYPED,
        "pkg/client/clientset/versioned/fake/clientset.go": _FAKE_V4 if v4 else _FAKE,
        "workflow/controller/operator_workflow_template_ref_test.go": _TEMPLATE_REF_TEST,
        "workflow/templateresolution/context_test.go": _resolution_test(shape, module),
    })  # fmt: skip
    if v4:
        files["util/logging/logging.go"] = _LOGGING
    if shape in _NO_APIERR_IN_RESOLUTION:
        files[f"{_K8S_API_ERRORS_DIR}/errors.go"] = _K8S_API_ERRORS
    if shape == "v3.7-apierr-sibling":
        files["workflow/templateresolution/missing.go"] = _RESOLUTION_SIBLING.replace("{m}", module)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
