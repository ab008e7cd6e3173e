//===- qforge-compile.cpp - MLIR module -> shared library -----------------===//
//
// Parses a module (any level: qforge/linalg on tensors, or already the LLVM
// dialect), lowers it with the qforge-to-llvm pipeline when needed, records
// the entry functions' signatures and the module hash as a metadata string,
// emits an object file in-process through LLVM's target machinery and links
// it into a shared library with the system C compiler driver. The library
// needs only libqforge_rt at run time (resolved by the program that loads
// it, such as qforge-run).
//
//===----------------------------------------------------------------------===//

#include "dialect/QForgeDialect.h"
#include "dialect/QForgeOps.h"
#include "passes/Passes.h"
#include "qforge/InitAll.h"
#include "qforge/Support/Calibration.h"
#include "qforge_rt.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

namespace cl = llvm::cl;

/// qforge-compile's own options; --help shows these only (libLLVM's global
/// options stay accepted: --help-hidden lists them).
static cl::OptionCategory qforgeCategory("qforge-compile options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input.mlir>"),
                                      cl::Required, cl::cat(qforgeCategory));
static cl::opt<std::string> outputFile("o", cl::desc("output shared library"),
                                       cl::value_desc("model.so"), cl::Required,
                                       cl::cat(qforgeCategory));
static cl::opt<std::string> target(
    "target",
    cl::desc("where the model runs: cpu (every op on the host; the runtime's "
             "cpu or cuda backend for qforge ops, operands staged per call) "
             "or cuda (tensors stay in GPU memory from inputs to outputs: "
             "qforge ops in the runtime's CUDA backend, every other op a "
             "generated GPU kernel; runs with --device cuda only)"),
    cl::init("cpu"), cl::cat(qforgeCategory));
static cl::opt<std::string> floatPrecision(
    "float-precision",
    cl::desc("type the model's float parts compute in: f32 (as written), f16 "
             "or bf16 (inputs and outputs stay f32, converted at the "
             "boundary; float GEMMs accumulate in f32)"),
    cl::init("f32"), cl::cat(qforgeCategory));
static cl::opt<std::string>
    cudaChip("cuda-chip",
             cl::desc("cuda target: GPU architecture of the "
                      "generated PTX (JIT-compiled by the driver "
                      "for the GPU it runs on)"),
             cl::init("sm_90"), cl::cat(qforgeCategory));
static cl::opt<std::string>
    cudaToolkit("cuda-toolkit",
                cl::desc("cuda target: CUDA toolkit whose libdevice the "
                         "kernels link (math functions)"),
                cl::init("/usr/local/cuda"), cl::cat(qforgeCategory));
static cl::opt<bool> fuseSiblings(
    "fuse-siblings",
    cl::desc("cuda target: matmuls that read the same activation with "
             "constant weights (Q, K, V) run as one GEMM over the "
             "concatenated weights (qforge-fuse-sibling-matmuls; "
             "bit-identical); =false keeps one GEMM each"),
    cl::init(true), cl::cat(qforgeCategory));
static cl::opt<bool> fuseAttention(
    "fuse-attention",
    cl::desc("cuda target: run f16/bf16 softmax attention as one "
             "flash-attention call (qforge-fuse-attention; scores kept in "
             "f32, not stored); =false keeps the matmul / softmax / matmul "
             "chain as written"),
    cl::init(true), cl::cat(qforgeCategory));
static cl::opt<std::string> attentionPrecision(
    "attention-precision",
    cl::desc(
        "cuda target: what the fused attention computes its two "
        "products in: float (the model's float type), int8 (Q, K, V "
        "and the probabilities quantized at run time; about 36 dB "
        "from float attention on Gaussian data), or auto (int8 for attention "
        "over >= 2048 keys at head dim 128, >= 4096 at narrower heads, "
        "when the model is quantized, i.e. holds qforge quantized ops or "
        "types; float otherwise: below that the int8 kernel's quantizing "
        "pass costs more than it saves)"),
    cl::init("auto"), cl::cat(qforgeCategory));
static cl::opt<bool> keepObject("keep-object",
                                cl::desc("also write <output>.o"),
                                cl::init(false), cl::cat(qforgeCategory));
static cl::opt<std::string>
    linker("linker", cl::desc("C compiler driver used to link the library"),
           cl::init("cc"), cl::cat(qforgeCategory));

namespace {

/// The model ABI the generated calls follow (qforge_rt.h says what each
/// version added); qforge-run refuses a model of another version.
constexpr int kModelAbiVersion = QFORGE_MODEL_ABI_VERSION;

/// --attention-precision=auto: int8 attention from this many keys on (at
/// head dim 128; below it from the narrow count). On the H100
/// (bench/RESULTS.md, session 7) the Hopper int8 kernel with its
/// quantizing pass is 1.4x the f16 kernel at 2048 keys and head dim 128
/// (the mma.sync kernel other GPUs run is even there), but 0.9x at head
/// dim 64 (the hidden-1024 block: 0.335 ms vs 0.316 with f16 attention),
/// and 1.4x at 64 from 8192 keys.
constexpr int64_t kAutoInt8AttentionMinKeys = 2048;
constexpr int64_t kAutoInt8AttentionMinKeysNarrow = 4096;

int fail(const llvm::Twine &message) {
  llvm::errs() << "qforge-compile: error: " << message << "\n";
  return 1;
}

/// "f32" / "i8" ... and "2x?x4" for a memref or tensor type.
std::string describeType(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped)
    return "";
  std::string text;
  llvm::raw_string_ostream os(text);
  Type element = shaped.getElementType();
  if (auto q = dyn_cast<quant::QuantizedType>(element))
    element = q.getStorageType();
  os << element << " ";
  llvm::interleave(
      shaped.getShape(), os,
      [&](int64_t d) {
        if (ShapedType::isDynamic(d))
          os << "?";
        else
          os << d;
      },
      "x");
  if (shaped.getRank() == 0)
    os << "scalar";
  return text;
}

/// The metadata record qforge-run reads (line format, no JSON parser needed
/// on the runtime side):
///   qforge-model 3          (the model ABI: qforge_rt_m_* signatures)
///   hash <16 hex digits>
///   func <name> <inputs> <outputs>
///   input <dtype> <dims>
///   output <dtype> <dims>
///   target <cpu|cuda>
FailureOr<std::string> modelMetadata(ModuleOp module, uint64_t hash) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "qforge-model " << kModelAbiVersion << "\n";
  os << "hash " << qforge::formatModuleHash(hash) << "\n";
  int entries = 0;
  for (auto f : module.getOps<func::FuncOp>()) {
    if (!f.isPublic() || f.isExternal())
      continue;
    ++entries;
    FunctionType type = f.getFunctionType();
    os << "func " << f.getName() << " " << type.getNumInputs() << " "
       << type.getNumResults() << "\n";
    for (Type input : type.getInputs()) {
      if (!isa<RankedTensorType>(input)) {
        f.emitError("entry function inputs must be ranked tensors");
        return failure();
      }
      os << "input " << describeType(input) << "\n";
    }
    for (Type result : type.getResults()) {
      if (!isa<RankedTensorType>(result)) {
        f.emitError("entry function results must be ranked tensors");
        return failure();
      }
      os << "output " << describeType(result) << "\n";
    }
  }
  if (entries == 0) {
    module.emitError("the module has no public function");
    return failure();
  }
  return text;
}

bool isLLVMDialectOnly(ModuleOp module) {
  bool onlyLLVM = true;
  module.walk([&](Operation *op) {
    if (op != module.getOperation() &&
        !isa<LLVM::LLVMDialect>(op->getDialect()))
      onlyLLVM = false;
  });
  return onlyLLVM;
}

int emitObject(llvm::Module &llvmModule, StringRef path) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::string triple = llvm::sys::getDefaultTargetTriple();
  std::string error;
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!llvmTarget)
    return fail("no LLVM target for " + triple + ": " + error);
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      llvm::Triple(triple), llvm::sys::getHostCPUName(), "", options,
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  llvmModule.setDataLayout(machine->createDataLayout());
  llvmModule.setTargetTriple(llvm::Triple(triple));
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail("cannot write " + path + ": " + ec.message());
  llvm::legacy::PassManager passes;
  if (machine->addPassesToEmitFile(passes, out, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return fail("the target cannot emit object files");
  passes.run(llvmModule);
  return 0;
}

/// Whether quantization passes have run over `module`: it holds a qforge op
/// other than attention, or a value of a quantized type.
bool isQuantized(ModuleOp module) {
  auto quantizedType = [](Type type) {
    if (auto shaped = dyn_cast<ShapedType>(type))
      type = shaped.getElementType();
    return isa<quant::QuantizedType>(type);
  };
  WalkResult found = module.walk([&](Operation *op) {
    bool qforgeOp = isa<qforge::QForgeDialect>(op->getDialect()) &&
                    !isa<qforge::AttentionOp>(op);
    if (qforgeOp || llvm::any_of(op->getResultTypes(), quantizedType))
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return found.wasInterrupted();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerAllPasses();
  qforge::registerAllPasses();
  cl::HideUnrelatedOptions(qforgeCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "qforge-compile: compile an MLIR module (qforge, linalg, or LLVM "
      "dialect) into a shared library that runs on the qforge runtime\n\n"
      "  qforge-compile model.mlir -o model.so\n"
      "  qforge-compile model.mlir -o model.so --target cuda "
      "--float-precision f16\n\n"
      "Public functions become entry points (C interface "
      "_mlir_ciface_<name>); their signatures and the module's hash are "
      "stored in the library as the string qforge_model_metadata.\n");
  if (target != "cpu" && target != "cuda")
    return fail("--target must be cpu or cuda, got '" + target + "'");
  if (floatPrecision != "f32" && floatPrecision != "f16" &&
      floatPrecision != "bf16")
    return fail("--float-precision must be f32, f16 or bf16, got '" +
                floatPrecision + "'");

  if (attentionPrecision != "auto" && attentionPrecision != "float" &&
      attentionPrecision != "int8")
    return fail("--attention-precision must be auto, float or int8, got '" +
                attentionPrecision + "'");
  if (attentionPrecision == "int8" && (target != "cuda" || !fuseAttention))
    return fail("--attention-precision=int8 applies to the fused attention "
                "of the cuda target (--target cuda, --fuse-attention)");

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  qforge::registerAllDialects(registry);
  qforge::registerCodegenInterfaces(registry);
  MLIRContext context(registry);

  std::string error;
  auto file = openInputFile(inputFile, &error);
  if (!file)
    return fail(error);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  // Diagnostics point at the user's source line; the generic form of the op
  // as some pass has rewritten it would only repeat it less readably.
  context.printOpOnDiagnostic(false);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1; // the parser reported the error
  // The model's identity, as calibration tables record it: its calibration
  // points for an instrumented module, its printed form otherwise.
  uint64_t hash = qforge::calibrationHash(*module);

  std::string metadata;
  if (!isLLVMDialectOnly(*module)) {
    FailureOr<std::string> described = modelMetadata(*module, hash);
    if (failed(described))
      return 1;
    metadata = *described + "target " + target + "\n";
    bool attentionInt8 = attentionPrecision == "int8" ||
                         (attentionPrecision == "auto" && target == "cuda" &&
                          fuseAttention && isQuantized(*module));
    // auto: int8 only where it is faster on the H100 (bench/RESULTS.md,
    // session 7).
    bool automatic = attentionPrecision == "auto";
    int64_t int8MinKeys = automatic ? kAutoInt8AttentionMinKeys : 0;
    int64_t int8MinKeysNarrow = automatic ? kAutoInt8AttentionMinKeysNarrow : 0;
    if (target == "cuda")
      metadata += std::string("attention ") +
                  (!attentionInt8 ? std::string("float")
                   : int8MinKeys > 0
                       ? "int8 for >= " + std::to_string(int8MinKeys) +
                             " keys (>= " + std::to_string(int8MinKeysNarrow) +
                             " below head dim 128)"
                       : std::string("int8")) +
                  "\n";
    std::string pipeline =
        target == "cuda"
            ? "qforge-to-nvvm{chip=" + cudaChip + " toolkit=" + cudaToolkit +
                  " fuse-siblings=" + (fuseSiblings ? "true" : "false") +
                  " fuse-attention=" + (fuseAttention ? "true" : "false") +
                  " attention-int8=" + (attentionInt8 ? "true" : "false") +
                  " attention-int8-min-keys=" + std::to_string(int8MinKeys) +
                  " attention-int8-min-keys-narrow=" +
                  std::to_string(int8MinKeysNarrow) + "}"
            : std::string("qforge-to-llvm");
    if (floatPrecision != "f32")
      pipeline = "inline,qforge-float-precision{type=" + floatPrecision + "}," +
                 pipeline;
    PassManager pm(&context);
    if (failed(parsePassPipeline(pipeline, pm)))
      return fail("cannot build the " + pipeline + " pipeline");
    if (failed(pm.run(*module)))
      return fail("lowering to the LLVM dialect failed");
  } else {
    metadata = "qforge-model " + std::to_string(kModelAbiVersion) + "\nhash " +
               qforge::formatModuleHash(hash) + "\n";
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, "qforge_model");
  if (!llvmModule)
    return fail("translation to LLVM IR failed");
  auto *initializer =
      llvm::ConstantDataArray::getString(llvmContext, metadata, true);
  new llvm::GlobalVariable(*llvmModule, initializer->getType(), true,
                           llvm::GlobalValue::ExternalLinkage, initializer,
                           "qforge_model_metadata");

  std::string objectPath = outputFile + ".o";
  if (int status = emitObject(*llvmModule, objectPath))
    return status;
  llvm::ErrorOr<std::string> driver = llvm::sys::findProgramByName(linker);
  if (!driver)
    return fail("cannot find the linker driver '" + linker + "'");
  SmallVector<StringRef> args = {*driver, "-shared", "-o", outputFile,
                                 objectPath};
  std::string linkError;
  int linkStatus = llvm::sys::ExecuteAndWait(*driver, args, std::nullopt, {}, 0,
                                             0, &linkError);
  if (!keepObject)
    llvm::sys::fs::remove(objectPath);
  if (linkStatus != 0)
    return fail("linking " + outputFile + " failed" +
                (linkError.empty() ? "" : ": " + linkError));
  return 0;
}
