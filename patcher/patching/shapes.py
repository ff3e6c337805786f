"""What a checkout's code looks like where the patch and the harness go: the template variables.

Every value comes from a Go declaration (templates/VARIABLES.md says which), never from the
version string. Code that matches no known shape is refused with an ``InputError`` naming what
was not found.
"""

from __future__ import annotations

import dataclasses

from patcher.errors import InputError
from patcher.patching.gosyntax import FuncDecl, GoFile
from patcher.patching.gotree import GoTree

WORKFLOWPOD = "workflow/controller/workflowpod.go"
OPERATOR = "workflow/controller/operator.go"
CONTROLLER = "workflow/controller/controller.go"
RESOLUTION = "workflow/templateresolution/context.go"
CONTROLLER_TEST = "workflow/controller/controller_test.go"
TEMPLATE_REF_TEST = "workflow/controller/operator_workflow_template_ref_test.go"
RESOLUTION_TEST = "workflow/templateresolution/context_test.go"
FAKE_CLIENTSET_DIR = "pkg/client/clientset/versioned/fake"
MARSHALL = "pkg/apis/workflow/v1alpha1/marshall.go"
LOGGING_DIR = "util/logging"

HOLDER_HELPER = "templateHolderPodMetadata"
MERGE_HELPER = "addPodMetadata"
CONTEXT = "context.Context"
WOC = "wfOperationCtx"

LOGGERS = {"*log.Entry": "logrus", "logging.Logger": "structured"}


@dataclasses.dataclass(frozen=True)
class ControllerShape:
    """Variables of templates/controller_add_metadata.go.j2."""

    pod_meta_expr: str
    metadata_copy: str
    template_context_takes_ctx: bool
    with_template_holder_takes_ctx: bool
    controller_logger: str


@dataclasses.dataclass(frozen=True)
class ResolutionShape:
    """Variables of templates/resolution_*.go.j2, for releases whose resolution merges podMetadata."""

    resolution_receiver: str
    resolution_receiver_type: str
    resolution_takes_ctx: bool
    resolution_logger: str


@dataclasses.dataclass(frozen=True)
class PatchShape:
    controller: ControllerShape | None  # None: already patched
    resolution: ResolutionShape | None  # None: template resolution does not merge podMetadata

    @property
    def already_patched(self) -> bool:
        return self.controller is None

    @property
    def name(self) -> str:
        c = self.controller
        if c is None:
            return "already patched"
        parts = [
            f"addMetadata {c.metadata_copy} into {c.pod_meta_expr}",
            "ctx-first template context" if c.template_context_takes_ctx else "template context without ctx",
            f"{c.controller_logger} logger",
            "resolution merges podMetadata" if self.resolution else "resolution does not merge podMetadata",
        ]
        return ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class HarnessShape:
    """Variables of go-fixtures/zz_argo_patcher_precedence_test.go.j2."""

    module_path: str
    new_controller_takes_ctx: bool
    new_woc_takes_ctx: bool
    list_pods_takes_ctx: bool
    logging_test_context: bool


@dataclasses.dataclass(frozen=True)
class UpstreamTestShape:
    """Variables of templates/upstream_*_test.go.j2: the test helpers of the release's own test files."""

    module_path: str
    new_controller_takes_ctx: bool
    new_woc_takes_ctx: bool
    list_pods_takes_ctx: bool
    logging_test_context: bool  # tests make their context with logging.TestContext(t.Context())
    unmarshal_cluster_template: bool  # wfv1.MustUnmarshalClusterWorkflowTemplate exists
    new_context_from_clientset: str  # NewContextFromClientSet, or NewContextFromClientset (v3.4)
    context_takes_logger: bool  # ... and a logging.Logger (v4)
    get_template_from_ref_takes_ctx: bool
    create_workflow_template_takes_ctx: bool
    fake_clientset: str  # NewClientset (v4.1 on), else NewSimpleClientset


def patch_shape(tree: GoTree) -> PatchShape:
    pod_file = tree.file(WORKFLOWPOD)
    add_metadata = _require(pod_file.method(WOC, "addMetadata"), f"func (woc *{WOC}) addMetadata in {WORKFLOWPOD}")
    if [p.type for p in add_metadata.params] != ["*apiv1.Pod", "*wfv1.Template"]:
        raise InputError(f"{WORKFLOWPOD}: addMetadata(pod *apiv1.Pod, tmpl *wfv1.Template) not found (it takes {_sig(add_metadata)})")
    resolution_file = tree.file(RESOLUTION)
    helper = pod_file.method(WOC, HOLDER_HELPER)
    if helper is not None:
        if f"woc.{HOLDER_HELPER}" not in pod_file.calls(add_metadata) or resolution_file.methods_named(MERGE_HELPER):
            raise InputError(f"{WORKFLOWPOD} has {HOLDER_HELPER} but the tree is not patched as argo-patcher patches it")
        return PatchShape(None, None)
    return PatchShape(_controller_shape(tree, pod_file, add_metadata), _resolution_shape(resolution_file))


def _controller_shape(tree: GoTree, pod_file: GoFile, add_metadata: FuncDecl) -> ControllerShape:
    calls = pod_file.calls(add_metadata)
    targets = set(pod_file.index_assignment_targets(add_metadata))
    if "maps.Copy" in calls:
        if "maps" not in pod_file.imports():
            raise InputError(f"{WORKFLOWPOD}: addMetadata calls maps.Copy but the file does not import maps")
        metadata_copy, pod_meta_expr = "maps_copy", "pod"
    elif targets == {"pod.ObjectMeta.Annotations", "pod.ObjectMeta.Labels"}:
        metadata_copy, pod_meta_expr = "range", "pod.ObjectMeta"
    elif targets == {"pod.Annotations", "pod.Labels"}:
        metadata_copy, pod_meta_expr = "range", "pod"
    else:
        raise InputError(
            f"{WORKFLOWPOD}: addMetadata copies metadata in an unknown way "
            "(neither maps.Copy nor range loops into pod.ObjectMeta.* or pod.*)"
        )
    return _controller_context(tree, pod_file, metadata_copy, pod_meta_expr)


def _controller_context(tree: GoTree, pod_file: GoFile, metadata_copy: str, pod_meta_expr: str) -> ControllerShape:
    imports = pod_file.imports()
    for suffix, name in (("/workflow/common", "common"), ("/pkg/apis/workflow/v1alpha1", "wfv1")):
        if not any(path.endswith(suffix) and used == name for path, used in imports.items()):
            raise InputError(f"{WORKFLOWPOD}: the import of …{suffix} as {name} was not found")
    if "common.AnnotationKeyNodeID" not in pod_file.source.decode():
        raise InputError(f"{WORKFLOWPOD}: pods are not annotated with common.AnnotationKeyNodeID")
    operator = tree.file(OPERATOR)
    create = _require(operator.method(WOC, "createTemplateContext"), f"func (woc *{WOC}) createTemplateContext in {OPERATOR}")
    template_context_takes_ctx = _takes_ctx(create, ["wfv1.ResourceScope", "string"], OPERATOR)
    resolution = tree.file(RESOLUTION)
    with_holder = _one_method(resolution, "WithTemplateHolder")
    with_template_holder_takes_ctx = _takes_ctx(with_holder, ["wfv1.TemplateReferenceHolder"], RESOLUTION)
    _one_method(resolution, "GetCurrentTemplateBase")
    logger = _logger(operator, WOC, OPERATOR)
    if logger == "structured":
        _require_background_context(tree)
    elif template_context_takes_ctx or with_template_holder_takes_ctx:
        raise InputError(f"{OPERATOR}: the template context needs a context.Context but the {WOC} logger cannot make one")
    return ControllerShape(pod_meta_expr, metadata_copy, template_context_takes_ctx, with_template_holder_takes_ctx, logger)


def _resolution_shape(resolution: GoFile) -> ResolutionShape | None:
    by_name = _one_method(resolution, "GetTemplateByName")
    from_ref = _one_method(resolution, "GetTemplateFromRef")
    receiver = by_name.receiver_name
    merge_call = f"{receiver}.{MERGE_HELPER}"
    if merge_call not in resolution.calls(by_name) + resolution.calls(from_ref):
        return None
    if resolution.method(by_name.receiver_type, MERGE_HELPER) is None:
        raise InputError(f"{RESOLUTION}: {merge_call} is called but not declared on {by_name.receiver_type}")
    takes_ctx = _takes_ctx(from_ref, ["*wfv1.TemplateRef"], RESOLUTION)
    getter = _one_method(resolution, "GetTemplateGetterFromRef")
    if {takes_ctx, _takes_ctx(by_name, ["string"], RESOLUTION), _takes_ctx(getter, ["*wfv1.TemplateRef"], RESOLUTION)} != {takes_ctx}:
        raise InputError(f"{RESOLUTION}: GetTemplateByName, GetTemplateFromRef and GetTemplateGetterFromRef disagree on a context.Context parameter")
    return ResolutionShape(receiver, by_name.receiver_type, takes_ctx, _logger(resolution, by_name.receiver_type, RESOLUTION))


def harness_shape(tree: GoTree) -> HarnessShape:
    controller_tests = tree.file(CONTROLLER_TEST)
    new_controller = _require(controller_tests.function("newController"), f"func newController in {CONTROLLER_TEST}")
    if not new_controller.params or not new_controller.params[-1].type.startswith("..."):
        raise InputError(f"{CONTROLLER_TEST}: newController(…, options ...) not found (it takes {_sig(new_controller)})")
    list_pods = _require(controller_tests.function("listPods"), f"func listPods in {CONTROLLER_TEST}")
    make_pods_phase = _require(controller_tests.function("makePodsPhase"), f"func makePodsPhase in {CONTROLLER_TEST}")
    if [p.type for p in make_pods_phase.params[:3]] != [CONTEXT, f"*{WOC}", "apiv1.PodPhase"]:
        raise InputError(f"{CONTROLLER_TEST}: makePodsPhase(ctx, woc, phase, …) not found (it takes {_sig(make_pods_phase)})")
    operator = tree.file(OPERATOR)
    new_woc = _require(operator.function("newWorkflowOperationCtx"), f"func newWorkflowOperationCtx in {OPERATOR}")
    operate = _require(operator.method(WOC, "operate"), f"func (woc *{WOC}) operate in {OPERATOR}")
    if [p.type for p in operate.params] != [CONTEXT]:
        raise InputError(f"{OPERATOR}: operate(ctx context.Context) not found (it takes {_sig(operate)})")
    if tree.file(MARSHALL).function("MustUnmarshal") is None:
        raise InputError(f"{MARSHALL}: func MustUnmarshal not found")
    fields = tree.file(CONTROLLER).struct_fields("WorkflowController") or {}
    if not fields.get("cwftmplInformer", "").endswith("ClusterWorkflowTemplateInformer"):
        raise InputError(f"{CONTROLLER}: WorkflowController.cwftmplInformer (a ClusterWorkflowTemplateInformer) not found")
    mod = tree.gomod
    if "github.com/stretchr/testify" not in mod.path.read_text(encoding="utf-8"):
        raise InputError(f"{mod.path}: github.com/stretchr/testify is not required")
    return HarnessShape(
        module_path=mod.module,
        new_controller_takes_ctx=new_controller.first_param_type() == CONTEXT,
        new_woc_takes_ctx=_takes_ctx(new_woc, ["*wfv1.Workflow", "*WorkflowController"], OPERATOR),
        list_pods_takes_ctx=_takes_ctx(list_pods, [f"*{WOC}"], CONTROLLER_TEST),
        logging_test_context=_has_logging_test_context(tree),
    )


def _has_logging_test_context(tree: GoTree) -> bool:
    for file in tree.package_files(LOGGING_DIR):
        func = file.function("TestContext")
        if func is not None and [p.type for p in func.params] == [CONTEXT]:
            return True
    return False


def _require_background_context(tree: GoTree) -> None:
    for file in tree.package_files(LOGGING_DIR):
        methods = file.interface_methods("Logger")
        if methods is not None:
            if "NewBackgroundContext" in methods and "Warn" in methods:
                return
            break
    raise InputError(f"{LOGGING_DIR}: the Logger interface with NewBackgroundContext and Warn was not found")


def _takes_ctx(func: FuncDecl, rest: list[str], path: str) -> bool:
    """Whether ``func`` takes a context.Context before the parameters ``rest``; refuse any other list."""
    types = [p.type for p in func.params]
    if types == rest:
        return False
    if types == [CONTEXT, *rest]:
        return True
    raise InputError(f"{path}: {func.name}({', '.join(rest)}), with or without a leading context.Context, not found (it takes {_sig(func)})")


def _logger(file: GoFile, struct: str, path: str) -> str:
    fields = file.struct_fields(struct)
    if fields is None or "log" not in fields:
        raise InputError(f"{path}: the log field of {struct} was not found")
    if fields["log"] not in LOGGERS:
        raise InputError(f"{path}: {struct}.log has an unknown logger type {fields['log']}")
    return LOGGERS[fields["log"]]


def _one_method(file: GoFile, name: str) -> FuncDecl:
    found = file.methods_named(name)
    if len(found) != 1:
        raise InputError(f"{file.path}: {'no' if not found else 'more than one'} method {name} found")
    return found[0]


def _require(decl: FuncDecl | None, what: str) -> FuncDecl:
    if decl is None:
        raise InputError(f"{what} not found")
    return decl


def _sig(func: FuncDecl) -> str:
    return "(" + ", ".join(f"{p.name} {p.type}".strip() for p in func.params) + ")"


def upstream_test_shape(tree: GoTree) -> UpstreamTestShape:
    """The helpers the upstream-style test uses, as the release's own tests use them."""
    harness = harness_shape(tree)
    for relative in (TEMPLATE_REF_TEST, RESOLUTION_TEST):
        if not tree.exists(relative):
            raise InputError(f"{relative} not found: the upstream-style test goes into it")
    resolution, resolution_tests = tree.file(RESOLUTION), tree.file(RESOLUTION_TEST)
    constructors = [name for name in ("NewContextFromClientSet", "NewContextFromClientset") if resolution.function(name) is not None]
    if not constructors:
        raise InputError(f"{RESOLUTION}: func NewContextFromClientSet not found")
    constructor = _require(resolution.function(constructors[0]), constructors[0])
    rest = ["typed.WorkflowTemplateInterface", "typed.ClusterWorkflowTemplateInterface", "wfv1.TemplateHolder", "*wfv1.Workflow"]
    types = [p.type for p in constructor.params]
    if types not in (rest, [*rest, "logging.Logger"]):
        raise InputError(f"{RESOLUTION}: {constructor.name}({', '.join(rest)}[, logging.Logger]) not found (it takes {_sig(constructor)})")
    create = _require(resolution_tests.function("createWorkflowTemplate"), f"func createWorkflowTemplate in {RESOLUTION_TEST}")
    _require(resolution_tests.function("unmarshalWftmpl"), f"func unmarshalWftmpl in {RESOLUTION_TEST}")
    from_ref = _one_method(resolution, "GetTemplateFromRef")
    fake = {name for file in tree.package_files(FAKE_CLIENTSET_DIR) for name in file.package_level_names}
    if "NewSimpleClientset" not in fake:
        raise InputError(f"{FAKE_CLIENTSET_DIR}: NewSimpleClientset not found")
    logging_names = {name for file in tree.package_files(LOGGING_DIR) for name in file.package_level_names}
    if types[-1] == "logging.Logger" and "RequireLoggerFromContext" not in logging_names:
        raise InputError(f"{LOGGING_DIR}: func RequireLoggerFromContext not found")
    return UpstreamTestShape(
        module_path=harness.module_path,
        new_controller_takes_ctx=harness.new_controller_takes_ctx,
        new_woc_takes_ctx=harness.new_woc_takes_ctx,
        list_pods_takes_ctx=harness.list_pods_takes_ctx,
        logging_test_context=harness.logging_test_context,
        unmarshal_cluster_template=tree.file(MARSHALL).function("MustUnmarshalClusterWorkflowTemplate") is not None,
        new_context_from_clientset=constructor.name,
        context_takes_logger=types[-1] == "logging.Logger",
        get_template_from_ref_takes_ctx=_takes_ctx(from_ref, ["*wfv1.TemplateRef"], RESOLUTION),
        create_workflow_template_takes_ctx=_takes_ctx(create, ["wfclientset.Interface", "string"], RESOLUTION_TEST),
        fake_clientset="NewClientset" if "NewClientset" in fake else "NewSimpleClientset",
    )
