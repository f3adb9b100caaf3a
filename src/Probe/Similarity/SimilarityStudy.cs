using System.Globalization;
using Probe.Capture;
using Probe.Data;

namespace Probe.Similarity;

/// <summary>
/// The outcome of a <see cref="SimilarityStudy"/>: the table, the measure's CLI name, how it was computed ("full" or,
/// for CKA, "minibatch"), on how many samples of which data, and the two models' names.
/// </summary>
public sealed record SimilarityStudyResult(SimilarityTable Table, string Measure, string Method, int Samples, string Data, string RowModel, string ColumnModel);

/// <summary>
/// One similarity measure between the layers of trained models on a data set: every pair of one model's layers
/// (<see cref="Within"/>) or model A's layers x model B's layers on the same inputs (<see cref="Cross"/>: two
/// checkpoints of a run, two seeds, two architectures). CKA runs through <see cref="CkaStudy"/> (full data, or
/// streaming minibatch CKA when the layers do not fit its budget); every other measure captures the selected layers
/// of the (seeded) sample choice into memory, prepares each layer once and fills the table. The selector may name the
/// pseudo-layer <c>input</c> (the data itself).
/// </summary>
/// <param name="Measure">The measure (see <see cref="SimilarityMeasure.Parse"/>); a <see cref="CkaMeasure"/> carries its kernel options.</param>
/// <param name="Layers">Layer selector plus the term <c>input</c>.</param>
/// <param name="Reduce">How feature maps become rows.</param>
/// <param name="MaxSamples">Use at most this many samples (seeded choice, the same rows for both models); null = all.</param>
/// <param name="Seed">Seeds the sample choice.</param>
/// <param name="Method">CKA only: full data, minibatch or automatic.</param>
/// <param name="BatchSize">Samples per forward pass (and per CKA minibatch).</param>
public sealed record SimilarityStudy(
    SimilarityMeasure Measure,
    string Layers = "input,all",
    MapReduction Reduce = MapReduction.Mean,
    int? MaxSamples = null,
    int Seed = 0,
    CkaStudyMethod Method = CkaStudyMethod.Auto,
    int BatchSize = 256)
{
    /// <summary>Stops the study between batches and between pairs when cancelled.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Reports (stage, done, total): samples captured per model, then pairs compared; null = silent.</summary>
    public Action<string, long, long>? Progress { get; init; }

    /// <summary>Where the models run (for sources the study does not build itself, the source's own device applies).</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;

    /// <summary>
    /// The model input whose [N, T] rows mark each sample's real tokens (1) and padding (0), such as
    /// <c>attention_mask</c>: sequence sites of T tokens are pooled over the real tokens only (see
    /// <see cref="ActivationCapture.TokenMask"/>). Null: every token counts.
    /// </summary>
    public string? TokenMask { get; init; }

    private CkaStudy Cka => new((Measure as CkaMeasure)?.Settings, Layers, Reduce, MaxSamples, Seed, Method, BatchSize)
    {
        Cancellation = Cancellation,
        Progress = Progress,
        Device = Device,
        TokenMask = TokenMask,
    };

    /// <summary>The measure between every pair of an activation source's selected layers on <paramref name="data"/>.</summary>
    public SimilarityStudyResult Within(IActivationSource model, IDataset data)
    {
        ArgumentNullException.ThrowIfNull(Measure);
        ArgumentNullException.ThrowIfNull(model);
        if (Measure is CkaMeasure) return FromCka(Cka.Within(model, data));
        var study = Cka;
        var (subset, selector, withInput) = study.Prepare(data);
        var names = study.LayerNames(model, subset, selector, withInput, out _);
        var acts = CkaStudy.Collect(study.Capture(selector, "model"), model, subset, withInput);
        var table = Measure.AllPairs(names.Select(n => (n, acts[n])).ToList(), Pairs, Cancellation);
        return new SimilarityStudyResult(table, Measure.Name, "full", subset.Count, data.Name, "model", "model");
    }

    /// <summary>The measure between <paramref name="modelA"/>'s layers (rows) and <paramref name="modelB"/>'s (columns) on the same inputs.</summary>
    public SimilarityStudyResult Cross(IActivationSource modelA, IActivationSource modelB, IDataset data, string nameA = "A", string nameB = "B")
    {
        ArgumentNullException.ThrowIfNull(Measure);
        ArgumentNullException.ThrowIfNull(modelA);
        ArgumentNullException.ThrowIfNull(modelB);
        if (Measure is CkaMeasure) return FromCka(Cka.Cross(modelA, modelB, data, nameA, nameB));
        var study = Cka;
        var (subset, selector, withInput) = study.Prepare(data);
        var rows = study.LayerNames(modelA, subset, selector, withInput, out _);
        var cols = study.LayerNames(modelB, subset, selector, withInput, out _);
        var a = CkaStudy.Collect(study.Capture(selector, nameA), modelA, subset, withInput);
        var b = CkaStudy.Collect(study.Capture(selector, nameB), modelB, subset, withInput);
        var table = Measure.Cross(rows.Select(n => (n, a[n])).ToList(), cols.Select(n => (n, b[n])).ToList(), Pairs, Cancellation);
        return new SimilarityStudyResult(table, Measure.Name, "full", subset.Count, data.Name, nameA, nameB);
    }

    private Action<long, long>? Pairs => Progress is { } report ? (done, total) => report($"{Measure.Name} pairs", done, total) : null;

    private SimilarityStudyResult FromCka(CkaStudyResult r)
    {
        var (min, max) = Measure.Range;
        var t = r.Table;
        return new SimilarityStudyResult(new SimilarityTable(t.Measure, t.RowLayers, t.ColLayers, t.Values, min, max), Measure.Name,
            r.Method.ToString().ToLowerInvariant(), r.Samples, r.Data, r.RowModel, r.ColumnModel);
    }

    /// <summary>A one-line description, e.g. "SVCCA (keep 99% of the variance); full data; 360 samples of digits".</summary>
    public static string Describe(SimilarityStudyResult r) =>
        string.Create(CultureInfo.InvariantCulture, $"{r.Table.Measure}; {(r.Method == "minibatch" ? "minibatch" : "full data")}; {r.Samples} samples of {r.Data}");
}
