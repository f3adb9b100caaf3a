using System.CommandLine;
using System.Globalization;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Cli.Commands;

/// <summary>Options shared by several commands, and the small steps that turn them into library objects.</summary>
internal static class CliOptions
{
    public static Option<string> Model(bool required = false) => new("--model") { Description = "Model spec, e.g. mlp:64-128-64-32-10:relu or cnn:1x28x28:10.", Required = required };
    public static Option<string?> Weights() => new("--weights") { Description = "Weights file: .safetensors (PyTorch state dict) or TorchSharp's format." };
    public static Option<string> Data(bool required = false) => new("--data") { Description = "Data source: digits, fashion-mnist, idx:DIR, csv:FILE, npy:X.npy[,y.npy], synthetic:NAME?n=..&seed=..", Required = required };
    public static Option<string> Layers() => new("--layers") { Description = "Layer selector: names, globs (*relu*), type:Linear, or all.", DefaultValueFactory = _ => "all" };
    public static Option<int> Seed() => new("--seed") { Description = "Seed for every random choice.", DefaultValueFactory = _ => 0 };
    public static Option<int> BatchSize(int fallback = 256) => new("--batch-size") { Description = "Samples per batch.", DefaultValueFactory = _ => fallback };
    public static Option<bool> Json() => new("--json") { Description = "Print the result as JSON instead of a table." };
    public static Option<string> Out(bool required, string description) => new("--out") { Description = description, Required = required };
    public static Option<int?> MaxSamples() => new("--max-samples") { Description = "Use at most this many samples, chosen uniformly with the seed." };
    public static Option<string?> Run() => new("--run") { Description = "A run folder written by 'probe train'." };

    public static Option<MapReduction> Reduce() => new("--reduce")
    {
        Description = "How feature maps become rows: mean (per channel, default), max (per channel) or flatten.",
        DefaultValueFactory = _ => MapReduction.Mean,
        CustomParser = r =>
        {
            string v = r.Tokens.Count > 0 ? r.Tokens[0].Value : "mean";
            if (Enum.TryParse<MapReduction>(v, ignoreCase: true, out var m)) return m;
            r.AddError($"--reduce must be flatten, mean or max, not '{v}'.");
            return MapReduction.Mean;
        },
    };

    /// <summary>Loads a data source given by its text form.</summary>
    public static Dataset LoadData(string spec) => DataSource.Parse(spec).Load();

    /// <summary>Opens a data source as a stream of batches (files are read per batch, never whole). Dispose it when it is IDisposable.</summary>
    public static IDataset OpenData(string spec) => DataSource.Parse(spec).Open();

    /// <summary>A data set from an .npy input matrix (no labels), shaped like the file's sample dimensions.</summary>
    public static Dataset LoadInput(string path)
    {
        var array = Npy.Read(path);
        var m = Npy.ToMatrix(array, path);
        int[] shape = array.Shape.Length > 1 ? array.Shape.Skip(1).ToArray() : new[] { 1 };
        return new Dataset(Path.GetFileNameWithoutExtension(path), m, null, shape);
    }

    /// <summary>
    /// Refuses data laid out channels-last (H x W x C, C = 1 or 3) for a model that wants channels first (C x H x W):
    /// reshaping it silently would feed the model garbage.
    /// </summary>
    public static void CheckLayout(Probe.Capture.IActivationSource source, IDataset data)
    {
        if (source.InputShape is { } shape) DataLayout.CheckAgainstModel(data, shape);
    }

    /// <summary>Refuses a value below 1 for an integer option (exit 2).</summary>
    public static void Positive(Command cmd, Option<int> option) =>
        cmd.Validators.Add(r => { if (r.GetResult(option) != null && r.GetValue(option) < 1) r.AddError($"{option.Name} must be at least 1, got {r.GetValue(option)}."); });

    /// <summary>Refuses a value below 1 for an optional integer option (exit 2).</summary>
    public static void Positive(Command cmd, Option<int?> option) =>
        cmd.Validators.Add(r => { if (r.GetValue(option) is int v && v < 1) r.AddError($"{option.Name} must be at least 1, got {v}."); });

    public static string F(double v, string format = "G6") => v.ToString(format, CultureInfo.InvariantCulture);
}
