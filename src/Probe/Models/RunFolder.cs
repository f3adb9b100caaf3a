using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>Optimizer settings of a training run, as stored in run.json.</summary>
public sealed record OptimizerInfo(string Name, double LearningRate, double Momentum, int BatchSize, int Epochs, int Threads);

/// <summary>
/// The train/test split of a run: the sorted test row indices (all other rows trained on), and how they were chosen
/// (<see cref="Seed"/> and <see cref="TestFraction"/>, or given explicitly).
/// </summary>
public sealed record SplitInfo(int Samples, double TestFraction, int Seed, bool Given, int[] TestIndices);

/// <summary>One checkpoint of a run: its epoch (0 = before training), file relative to the run folder, metrics, and extras added by callbacks.</summary>
public sealed record CheckpointInfo(
    int Epoch,
    string File,
    double TrainLoss,
    double TrainAccuracy,
    double? TestLoss,
    double? TestAccuracy,
    Dictionary<string, object?> Extra);

/// <summary>The contents of run.json.</summary>
public sealed record RunInfo(
    string Format,
    string Model,
    string Data,
    int Seed,
    OptimizerInfo Optimizer,
    SplitInfo Split,
    List<CheckpointInfo> Checkpoints);

/// <summary>A training run folder: <c>run.json</c> plus <c>checkpoints/epoch-NNN.safetensors</c>.</summary>
public sealed record RunFolder(string Directory, RunInfo Info)
{
    public const string RunFile = "run.json";
    public const string FormatName = "probe-run/1";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>The network's spec.</summary>
    public ModelSpec Spec => ModelSpec.Parse(Info.Model);

    /// <summary>The checkpoints in epoch order.</summary>
    public IReadOnlyList<CheckpointInfo> Checkpoints => Info.Checkpoints;

    /// <summary>The rows the model trained on (all rows not in the test split), ascending.</summary>
    public int[] TrainIndices
    {
        get
        {
            var test = new HashSet<int>(Info.Split.TestIndices);
            return Enumerable.Range(0, Info.Split.Samples).Where(i => !test.Contains(i)).ToArray();
        }
    }

    /// <summary>The absolute path of the checkpoint at <paramref name="epoch"/>.</summary>
    public string CheckpointPath(int epoch) => Path.Combine(Directory, Checkpoint(epoch).File);

    /// <summary>The checkpoint entry at <paramref name="epoch"/>; throws listing the available epochs when absent.</summary>
    public CheckpointInfo Checkpoint(int epoch) =>
        Info.Checkpoints.FirstOrDefault(c => c.Epoch == epoch)
        ?? throw new ProbeArgumentException($"Run '{Directory}' has no checkpoint at epoch {epoch}; available epochs: {string.Join(", ", Info.Checkpoints.Select(c => c.Epoch))}.");

    /// <summary>Builds the network and loads the weights of the checkpoint at <paramref name="epoch"/> (the last one when null).</summary>
    public nn.Module<Tensor, Tensor> BuildModel(int? epoch = null)
    {
        if (Info.Checkpoints.Count == 0) throw new ProbeException($"Run '{Directory}' has no checkpoints.");
        var cp = epoch is int e ? Checkpoint(e) : Info.Checkpoints[^1];
        var model = Spec.Build(Info.Seed);
        try { Weights.Load(model, Path.Combine(Directory, cp.File)); }
        catch { model.Dispose(); throw; }
        model.eval();
        return model;
    }

    /// <summary>Reads <c>run.json</c> from <paramref name="directory"/>.</summary>
    public static RunFolder Load(string directory)
    {
        string path = Path.Combine(directory, RunFile);
        if (!File.Exists(path)) throw new ProbeException($"'{directory}' is not a training run folder: it has no {RunFile}.");
        RunInfo? info;
        try { info = JsonSerializer.Deserialize<RunInfo>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new ProbeException($"'{path}' is not a valid run file ({e.Message}).", e); }
        if (info is null || info.Format != FormatName || info.Model is null || info.Checkpoints is null || info.Split?.TestIndices is null)
            throw new ProbeException($"'{path}' is not a {FormatName} run file.");
        ModelSpec.Parse(info.Model);
        return new RunFolder(Path.GetFullPath(directory), info);
    }

    internal static void Write(string directory, RunInfo info)
    {
        string path = Path.Combine(directory, RunFile);
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(info, Json) + "\n");
        File.Move(tmp, path, overwrite: true);
    }
}
