namespace Probe.Capture;

/// <summary>How a site's per-sample output is laid out.</summary>
public static class SiteLayout
{
    static readonly string[] ChannelsFirstOps = ["Conv", "ConvTranspose", "MaxPool", "AveragePool", "BatchNormalization", "InstanceNormalization", "GlobalAveragePool", "GlobalMaxPool"];

    /// <summary>
    /// Whether a per-sample output of shape [T, D] is a sequence (D units per token: a Linear, an attention block or an
    /// ONNX MatMul applied per token) rather than a channels-first map [C, L] (Conv1d, BatchNorm1d, pooling).
    /// Decided by the op or module type, never by the sizes.
    /// </summary>
    public static bool TokensLast(string opType, int[]? perSample) => perSample is { Length: 2 } && TokensLast(opType);

    /// <summary>
    /// ONNX op types and TorchSharp module types (compared ignoring case: <c>Relu</c> and <c>ReLU</c>) whose output has
    /// the layout of their input: activations, dropout, identity and other elementwise arithmetic. Their type says
    /// nothing about whether a rank-2 per-sample output is tokens x features or channels x positions (a ReLU after a
    /// Conv1d is a map, after a Linear or MatMul a sequence), so a site of one of them is laid out as its producer.
    /// </summary>
    static readonly HashSet<string> LayoutPreservingTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "Relu", "Relu6", "LeakyRelu", "PRelu", "RRelu", "ThresholdedRelu", "Threshold", "Elu", "Selu", "Celu", "Gelu", "SiLU",
        "Mish", "Sigmoid", "HardSigmoid", "HardSwish", "Hardtanh", "Tanh", "Softplus", "Softsign", "LogSigmoid", "Tanhshrink",
        "Softshrink", "Hardshrink", "Shrink", "Erf", "Clip", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Pow", "Sin",
        "Cos", "Floor", "Ceil", "Round", "Sign", "Add", "Sub", "Mul", "Div", "Max", "Min", "Where", "Cast",
        "Dropout", "Dropout1d", "AlphaDropout", "FeatureAlphaDropout", "Identity",
    };

    /// <summary>Whether an op or module of this type keeps its input's layout (see <see cref="LayoutPreservingTypes"/>).</summary>
    public static bool PreservesLayout(string type) => LayoutPreservingTypes.Contains(type);

    /// <summary>Whether a per-sample output [T, D] of this op or module type is a sequence (see <see cref="TokensLast(string, int[])"/>).</summary>
    internal static bool TokensLast(string opType) =>
        !opType.EndsWith("1d", StringComparison.Ordinal) && !ChannelsFirstOps.Contains(opType);
}
