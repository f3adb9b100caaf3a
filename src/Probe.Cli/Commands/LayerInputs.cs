using System.CommandLine;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Models;

namespace Probe.Cli.Commands;

/// <summary>One model state to analyse: its checkpoint (null for --acts or --model), its layers and the labels and train mask of its rows.</summary>
internal sealed record LayerSet(CheckpointInfo? Checkpoint, IReadOnlyList<(string Layer, Matrix Features)> Layers, int[] Labels, bool[]? TrainMask);

/// <summary>
/// The three ways the separability and linear-probe commands get per-layer features: an activation file (--acts with
/// --labels), a model on a data set (--model/--weights/--data, every selected layer), or every checkpoint of a run folder
/// (--run; the run's data and train/test split).
/// </summary>
internal sealed class LayerInputs
{
    public Option<string?> Acts { get; } = CliOptions.InputFile("--acts", "An .npy activation matrix (rows = samples).");
    public Option<string?> Labels { get; } = CliOptions.InputFile("--labels", "An .npy int32 label vector, one per row of --acts.");
    public ModelOptions Models { get; } = new();
    public Option<string?> Data { get; } = CliOptions.OptionalData("Data source for --model (or to override the run's data for --run): " + CliOptions.DataKinds + ".");
    public Option<string?> Run { get; } = CliOptions.Run();
    public Option<string?> Epochs { get; } = new Option<string?>("--epochs") { Description = "With --run: comma-separated epochs to analyse (default: every checkpoint)." }.Check(t => CliOptions.EpochList(t));
    public Option<string> LayerSelector { get; } = CliOptions.Layers();
    public Option<MapReduction> Reduce { get; } = CliOptions.Reduce();
    public Option<int?> MaxSamples { get; } = CliOptions.MaxSamples();
    public Option<int> Seed { get; } = CliOptions.Seed();
    public Option<int> BatchSize { get; } = CliOptions.BatchSize();

    /// <summary>
    /// Whether the command's own math can run on the --device given (linear-probe's torch trainer): then stored
    /// activations (--acts, --acts-dir) may take --device too.
    /// </summary>
    public Func<System.CommandLine.Parsing.CommandResult, bool>? DeviceMath { get; init; }

    /// <summary>Adds the options and the one-source validator to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Acts, Labels, Data, Run, Epochs, LayerSelector, Reduce, MaxSamples, Seed, BatchSize }) cmd.Add(o);
        Models.AddTo(cmd);
        cmd.Validators.Add(r =>
        {
            bool acts = r.GetResult(Acts) != null, model = Models.HasModel(r), run = r.GetResult(Run) != null, dir = Models.HasActsDir(r);
            int sources = (acts ? 1 : 0) + (model ? 1 : 0) + (run ? 1 : 0) + (dir ? 1 : 0);
            if (sources != 1) { r.AddError("Give exactly one of --acts (with --labels), --model (with --weights and --data), --run or --acts-dir."); return; }
            Models.Validate(r);
            if (dir && r.GetResult(Data) != null) r.AddError("--acts-dir holds its own samples and labels; drop --data.");
            if (acts && r.GetResult(Labels) == null) r.AddError("--acts needs --labels.");
            if (model && r.GetResult(Data) == null) r.AddError("--model needs --data.");
            if (!acts && r.GetResult(Labels) != null) r.AddError("--labels goes with --acts; --model and --run take labels from the data set.");
            if (!run && r.GetResult(Epochs) != null) r.AddError("--epochs goes with --run.");
            bool math = DeviceMath?.Invoke(r) ?? false;
            if (acts && !math) Models.RejectDeviceWithoutModel(r, "--acts");
            if (dir && !math) Models.RejectDeviceWithoutModel(r, "--acts-dir");
        });
    }

    /// <summary>Where the train/test split comes from, for the output.</summary>
    public string SplitSource(ParseResult p, string? trainMask) =>
        trainMask != null ? $"train mask {trainMask}"
        : p.GetValue(Run) != null ? "the run's recorded train/test split"
        : "seeded stratified split";

    /// <summary>Loads the layer sets (one per checkpoint for --run); <paramref name="trainMaskPath"/> is an optional .npy bool mask over the samples.</summary>
    public IEnumerable<LayerSet> Load(ParseResult p, string? trainMaskPath, CliContext? ctx = null)
    {
        int seed = p.GetValue(Seed);
        int? max = p.GetValue(MaxSamples);
        if (p.GetValue(Acts) is string acts)
        {
            var x = Npy.ReadMatrix(acts);
            var y = Npy.ReadInt32(p.GetValue(Labels)!);
            if (y.Length != x.Rows) throw new ProbeException($"'{p.GetValue(Labels)}' has {y.Length} labels but '{acts}' has {x.Rows} rows.");
            var mask = ReadMask(trainMaskPath, x.Rows);
            var rows = SampleChooser.Choose(x.Rows, max, seed);
            if (rows.Length < x.Rows) { x = x.SelectRows(rows); y = rows.Select(i => y[i]).ToArray(); mask = mask is null ? null : rows.Select(i => mask[i]).ToArray(); }
            yield return new LayerSet(null, [(Path.GetFileNameWithoutExtension(acts), x)], y, mask);
            yield break;
        }
        var capture = new ActivationCapture(new LayerSelector(p.GetValue(LayerSelector)!), p.GetValue(Reduce), BatchSize: p.GetValue(BatchSize))
        {
            Cancellation = ctx?.Cancel ?? default,
            Progress = ctx?.Report("capture"),
            Device = Models.DeviceOf(p),
            TokenMask = Models.TokenMaskOf(p),
        };
        if (p.GetValue(Models.Model) != null || p.GetValue(Models.ActsDir) != null)
        {
            var (source, data) = Models.OpenWithData(p, p.GetValue(Data), seed);
            using var _s = source;
            using var _d = data as IDisposable;
            var mask = ReadMask(trainMaskPath, data.Count);
            yield return FromCapture(capture.ToMemory(source, data, max, seed), data, mask, null);
            yield break;
        }
        if (trainMaskPath != null) throw new ProbeException("--train-mask cannot be used with --run: probes use the run's recorded train/test split.");
        var run = RunFolder.Load(p.GetValue(Run)!);
        var dataset = CliOptions.LoadData(p.GetValue(Data) ?? run.Info.Data);
        if (dataset.Count != run.Info.Split.Samples)
            throw new ProbeException($"Run '{run.Directory}' was trained on {run.Info.Split.Samples} samples but '{dataset.Name}' has {dataset.Count}.");
        var runMask = RepresentationStudy.RunTrainMask(run.Info.Split);
        var checkpoints = p.GetValue(Epochs) is string e ? ParseEpochs(e).Select(run.Checkpoint).ToList() : run.Checkpoints.ToList();
        for (int i = 0; i < checkpoints.Count; i++)
        {
            var cp = checkpoints[i];
            using var module = run.BuildModel(cp.Epoch);
            var c = ctx is null ? capture : capture with { Progress = ctx.Report($"capture ({checkpoints.Count} checkpoints)", i, checkpoints.Count) };
            yield return FromCapture(c.ToMemory(module, dataset, max, seed), dataset, runMask, cp);
        }
    }

    private static LayerSet FromCapture(CapturedActivations a, IDataset data, bool[]? mask, CheckpointInfo? cp)
    {
        if (a.Labels is null) throw new ProbeException($"Data set '{data.Name}' has no labels; separability and probes need class labels.");
        return new LayerSet(cp, a.LayerNames.Select(n => (n, a[n])).ToList(), a.Labels, mask is null ? null : a.SampleIndices.Select(i => mask[i]).ToArray());
    }

    private static bool[]? ReadMask(string? path, int rows)
    {
        if (path is null) return null;
        var m = Npy.ReadBool(path);
        if (m.Length != rows) throw new ProbeException($"The train mask '{path}' has {m.Length} entries for {rows} samples.");
        return m;
    }

    private static int[] ParseEpochs(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ProbeException("--epochs is empty.");
        return parts.Select(s => int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v) ? v
            : throw new ProbeException($"--epochs: '{s}' is not an epoch number.")).Distinct().Order().ToArray();
    }

    /// <summary>"epoch N" for a checkpoint, "" otherwise.</summary>
    public static string Label(LayerSet s) => s.Checkpoint is { } c ? c.Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture) : "";
}
