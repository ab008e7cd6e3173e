# -*- Python -*-
# lit configuration of the qforge test suite (modelled on mlir/examples/standalone).

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "qforge"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.qforge_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "unit"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%shlibext", config.llvm_shlib_ext))
config.substitutions.append(("%qforge_src", config.qforge_src_root))
config.substitutions.append(("%qforge_rt_include",
                             os.path.join(config.qforge_src_root, "runtime", "include")))
config.substitutions.append(("%qforge_lib_dir", os.path.join(config.qforge_obj_root, "lib")))
# The C compiler with the build's flags (a sanitizer build's harnesses must
# be instrumented like the runtime they link).
config.substitutions.append(("%cc", config.c_compiler + " " + config.c_flags))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%qforge_plugin", config.qforge_plugin))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# Tools: qforge's own first, then FileCheck & co. from LLVM.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.qforge_tools_dir, append_path=True)
tool_dirs = [config.qforge_tools_dir, config.llvm_tools_dir]
tools = [ToolSubst("qforge-opt", unresolved="fatal"),
         ToolSubst("qforge-compile", unresolved="fatal"),
         ToolSubst("qforge-run", unresolved="fatal"),
         ToolSubst("qforge-calibrate", unresolved="fatal"), "mlir-translate", "llc",
         "mlir-opt"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# A sanitizer build: tools that are not instrumented (the system mlir-opt)
# cannot load instrumented plugins.
if "-fsanitize=address" in config.c_flags:
    config.available_features.add("asan")

# The digits example needs Debian's python3 with numpy and scikit-learn
# (scripts/setup.sh installs them).
import subprocess
debian_python = "/usr/bin/python3"
try:
    subprocess.run([debian_python, "-c", "import numpy, sklearn"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config.available_features.add("sklearn")
except (OSError, subprocess.CalledProcessError):
    pass
config.substitutions.append(("%debian_python", debian_python))

# The cuda target's PTX links libdevice from the toolkit (qforge-to-nvvm).
if os.path.exists("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc"):
    config.available_features.add("cuda-toolkit")

# Features: a CUDA device, for the integration/cuda suite.
if config.qforge_cuda_enabled and os.path.exists("/dev/nvidiactl"):
    config.available_features.add("cuda-device")
