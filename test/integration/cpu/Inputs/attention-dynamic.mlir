// qforge.attention with dynamic sequence lengths (attention-dynamic.test).
func.func @attn(%q: tensor<1x?x8xf32>, %k: tensor<1x?x8xf32>, %v: tensor<1x?x8xf32>) -> tensor<1x?x8xf32> {
  %o = qforge.attention %q, %k, %v scale 1.0 : tensor<1x?x8xf32>, tensor<1x?x8xf32>, tensor<1x?x8xf32> -> tensor<1x?x8xf32>
  return %o : tensor<1x?x8xf32>
}

func.func @attn_causal(%q: tensor<1x?x8xf32>, %k: tensor<1x?x8xf32>, %v: tensor<1x?x8xf32>) -> tensor<1x?x8xf32> {
  %o = qforge.attention %q, %k, %v scale 1.0 causal : tensor<1x?x8xf32>, tensor<1x?x8xf32>, tensor<1x?x8xf32> -> tensor<1x?x8xf32>
  return %o : tensor<1x?x8xf32>
}
