//===- Activation.cpp - recognising activations by what they compute ------===//

#include "passes/Activation.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <optional>

using namespace mlir;

namespace {

/// Evaluates the body with `input` = x, from the op after input's
/// definition (or from the start for a block argument): constants and the
/// arith / math ops activations are written with; nullopt for anything else
/// (including another block argument).
std::optional<double> evaluateBody(Block &body, Value input, double x) {
  DenseMap<Value, double> values;
  values[input] = x;
  auto valueOf = [&](Value v) -> std::optional<double> {
    auto found = values.find(v);
    if (found != values.end())
      return found->second;
    FloatAttr constant;
    if (matchPattern(v, m_Constant(&constant)))
      return constant.getValueAsDouble();
    return std::nullopt;
  };
  bool started = isa<BlockArgument>(input);
  for (Operation &op : body.without_terminator()) {
    if (!started) {
      started = &op == input.getDefiningOp();
      continue;
    }
    if (isa<arith::ConstantOp>(op))
      continue;
    SmallVector<double> in;
    for (Value operand : op.getOperands()) {
      std::optional<double> v = valueOf(operand);
      if (!v)
        return std::nullopt;
      in.push_back(*v);
    }
    double out;
    if (isa<arith::AddFOp>(op))
      out = in[0] + in[1];
    else if (isa<arith::SubFOp>(op))
      out = in[0] - in[1];
    else if (isa<arith::MulFOp>(op))
      out = in[0] * in[1];
    else if (isa<arith::DivFOp>(op))
      out = in[0] / in[1];
    else if (isa<arith::NegFOp>(op))
      out = -in[0];
    else if (isa<math::ErfOp>(op))
      out = std::erf(in[0]);
    else if (isa<math::SqrtOp>(op))
      out = std::sqrt(in[0]);
    else
      return std::nullopt;
    values[op.getResult(0)] = out;
  }
  return valueOf(body.getTerminator()->getOperand(0));
}

} // namespace

arith::AddFOp qforge::biasAdd(Block &body) {
  if (body.getNumArguments() < 2)
    return nullptr;
  Value x = body.getArgument(0), bias = body.getArgument(1);
  if (!x.hasOneUse() || !bias.hasOneUse())
    return nullptr;
  auto add = dyn_cast<arith::AddFOp>(*x.getUsers().begin());
  if (!add || !((add.getLhs() == x && add.getRhs() == bias) ||
                (add.getLhs() == bias && add.getRhs() == x)))
    return nullptr;
  return add;
}

bool qforge::computesGelu(Block &body, Value input) {
  if (!input)
    input = body.getArgument(0);
  // The body's constants are rounded to its float type (1/sqrt(2) in f16
  // is 0.70703): the tolerance follows the type's precision.
  double tolerance = 1e-6;
  if (auto type = dyn_cast<FloatType>(input.getType()))
    tolerance = std::max(
        tolerance, 8.0 * std::ldexp(1.0, -int(type.getFPMantissaWidth())));
  for (double x : {-4.0, -2.5, -1.0, -0.3, 0.0, 0.4, 1.0, 2.2, 5.0}) {
    std::optional<double> y = evaluateBody(body, input, x);
    double expected = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    if (!y ||
        std::fabs(*y - expected) > tolerance * std::max(1.0, std::fabs(x)))
      return false;
  }
  return true;
}
