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

    /// <summary>Whether a per-sample output [T, D] of this op or module type is a sequence (see <see cref="TokensLast(string, int[])"/>).</summary>
    internal static bool TokensLast(string opType) =>
        !opType.EndsWith("1d", StringComparison.Ordinal) && !ChannelsFirstOps.Contains(opType);
}
