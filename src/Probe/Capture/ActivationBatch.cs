namespace Probe.Capture;

/// <summary>A captured layer: its module name, module type, per-sample output shape, and columns after reduction.</summary>
public sealed record LayerInfo(string Name, string ModuleType, int[] OutputShape, int Features, int Order)
{
    /// <summary>
    /// The op type whose output layout this layer's output has, when it is not <see cref="ModuleType"/>'s own: an
    /// elementwise op (an ONNX <c>Relu</c>, <c>Sigmoid</c>, <c>Mul</c>) keeps its input's layout, so a <c>Relu</c> after
    /// a Conv1d is C channels of L positions ("Conv"), not L tokens of C features. Null: decided by <see cref="ModuleType"/>.
    /// </summary>
    public string? LayoutType { get; init; }

    /// <summary>The type <see cref="SiteLayout.TokensLast(string, int[])"/> decides this layer's layout by.</summary>
    public string LayoutOrType => LayoutType ?? ModuleType;

    /// <summary>
    /// The activation this layer computes when its type does not say (an ONNX <c>Mul</c> that is the last op of a
    /// decomposed GELU or SiLU: "GELU", "SiLU"); null otherwise. Units are judged as for that activation.
    /// </summary>
    public string? ActivationType { get; init; }

    /// <summary>
    /// The model input whose token mask marks this layer's real tokens (a sequence of the mask's T tokens; see
    /// <see cref="Capture.TokenMask"/>): reduced by mean, max, first or last over each sample's real tokens only, or, under
    /// <see cref="MapReduction.Flatten"/>, kept whole, padding included, beside the mask rows
    /// (<see cref="ActivationBatch.TokenMaskRows"/>); null when no mask applies to it.
    /// </summary>
    public string? TokenMask { get; init; }
}

/// <summary>
/// The activations of one batch: for each selected layer a matrix with one row per sample of the batch
/// (rows [Offset, Offset + Count) of the data set). <see cref="Inputs"/> holds layer inputs when they were requested
/// (for a ReLU its input is the pre-activation). The matrices are valid only during the call that receives them.
/// </summary>
public sealed record ActivationBatch(
    int Offset,
    int Count,
    int[]? Labels,
    IReadOnlyDictionary<string, Matrix> Outputs,
    IReadOnlyDictionary<string, Matrix> Inputs)
{
    /// <summary>
    /// Under a token mask (<see cref="ActivationCapture.TokenMask"/>), the mask rows of the batch's samples ([Count, T],
    /// 1 = real token, 0 = padding): what tells a consumer that keeps every token which of them are padding. Null otherwise.
    /// </summary>
    public Matrix? TokenMaskRows { get; init; }
}

/// <summary>
/// A streaming consumer of captured activations: it sees each batch once, in data order, and should keep only
/// what it needs (counters, sums), never all samples.
/// </summary>
public interface IActivationConsumer
{
    void OnBatch(ActivationBatch batch);

    /// <summary>Called once after the last batch, with the layers in the order they fired.</summary>
    void OnEnd(IReadOnlyList<LayerInfo> layers) { }

    /// <summary>
    /// Whether this consumer keeps <see cref="ActivationBatch.TokenMaskRows"/> beside the rows (as <see cref="NpySink"/>
    /// does): a capture with a token mask that keeps every token (<see cref="MapReduction.Flatten"/>) is refused for a
    /// consumer that does not, which would take padding tokens as data.
    /// </summary>
    bool KeepsTokenMaskRows => false;
}
