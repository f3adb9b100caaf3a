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
    /// <summary>What <c>--model</c> takes where an ONNX file will do.</summary>
    public const string ModelOrOnnx = "The model: a spec (mlp:64-128-10:relu, cnn:1x28x28:10, resnet:18:w16, torchvision:resnet18) or an ONNX file (model.onnx).";

    public static Option<string> Model(bool required = false, bool onnx = false) => new Option<string>("--model")
    {
        Description = onnx ? ModelOrOnnx : "Model spec, e.g. mlp:64-128-64-32-10:relu or cnn:1x28x28:10.",
        Required = required,
    }.Check(ModelError);

    /// <summary>The endings of files that hold weights (PyTorch state dicts and checkpoints, safetensors, TorchSharp's format).</summary>
    static readonly string[] WeightsExtensions = [".pt", ".pth", ".safetensors", ".ckpt", ".bin", ".dat", ".safetensors.index.json"];

    /// <summary>Null when <paramref name="model"/> is a well-formed model spec or an existing ONNX file, otherwise what is wrong.</summary>
    public static string? ModelError(string model)
    {
        if (ModelLoader.IsOnnx(model)) return File.Exists(model) ? null : $"ONNX model '{model}' does not exist.";
        // A PyTorch user's first try: the state dict as the model. It holds weights, not the architecture.
        if (WeightsExtensions.Any(e => model.EndsWith(e, StringComparison.OrdinalIgnoreCase)) && !model.Contains(':'))
            return $"'{model}' is a weights file, not a model: name the architecture here (a spec such as torchvision:resnet18, or torchvision:resnet18:3x32x32 for 32 x 32 images; or an ONNX export) and give the file with --weights (--weights-a, --weights-b beside --model-a, --model-b).";
        try { ModelSpec.Parse(model); return null; }
        catch (ProbeException e) { return e.Message; }
    }
    /// <summary>The data kinds every --data takes, for help texts.</summary>
    public const string DataKinds = "images:DIR (an ImageFolder tree), cifar:DIR, npz:FILE, npy:X.npy[,y.npy], digits, fashion-mnist, idx:DIR, csv:FILE, synthetic:NAME; transforms such as ?preset=imagenet, size=, crop=, mean=, std=";

    public static Option<string?> Weights(string name = "--weights", string description = "Weights file: a PyTorch state dict (.safetensors, .pt or .pth) or TorchSharp's format.") =>
        new Option<string?>(name) { Description = description }.Check(WeightsFile);

    /// <summary>Null when <paramref name="path"/> is an existing file that can hold weights; an ONNX file is a model, not weights.</summary>
    public static string? WeightsFile(string path) =>
        ExistingFile(path) ?? (ModelLoader.IsOnnx(path) ? $"'{path}' is an ONNX model, which carries its own weights: give it as --model {path}, without --weights." : null);
    public static Option<string> Data(bool required = false, string description = "Data source: " + DataKinds + ".") =>
        new Option<string>("--data") { Description = description, Required = required }.Check(DataSpec);
    /// <summary>A --data option whose absence means a default (the run's data, or the model's acts folder).</summary>
    public static Option<string?> OptionalData(string description) => new Option<string?>("--data") { Description = description }.Check(DataSpec);
    public static Option<string> Layers() => new("--layers") { Description = "Layer selector: names, globs (*relu*), type:Linear, or all.", DefaultValueFactory = _ => "all" };
    public static Option<int> Seed() => new("--seed") { Description = "Seed for every random choice.", DefaultValueFactory = _ => 0 };
    public static Option<int> BatchSize(int fallback = 256) => new Option<int>("--batch-size") { Description = "Samples per batch.", DefaultValueFactory = _ => fallback }.AtLeast(1);
    public static Option<bool> Json() => new("--json") { Description = "Print the result as JSON instead of a table." };
    public static Option<string> Out(bool required, string description) => new Option<string>("--out") { Description = description, Required = required }.Check(Writable);
    public static Option<int?> MaxSamples() => new Option<int?>("--max-samples") { Description = "Use at most this many samples, chosen uniformly with the seed." }.AtLeast(1);
    /// <summary>
    /// <c>--quality-samples N</c>: the rows of a fixed uniform subsample <paramref name="what"/> is scored on (0 skips it);
    /// a negative count is refused.
    /// </summary>
    public static Option<int> QualitySamples(string what)
    {
        var o = new Option<int>("--quality-samples") { Description = $"Rows of a fixed uniform subsample (seeded by --seed) on which {what} is scored; 0 skips it (default {Probe.Projection.SampledTrustworthiness.DefaultSamples}; the score is O(N^2) in these rows).", DefaultValueFactory = _ => Probe.Projection.SampledTrustworthiness.DefaultSamples };
        o.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError($"--quality-samples must be 0 (skip) or a positive number of rows, got {r.GetValueOrDefault<int>()}."); });
        return o;
    }

    /// <summary>
    /// NAME=FILE.npy into (NAME, FILE.npy); a plain path (no name before '=', or a '=' inside a path) has no name.
    /// </summary>
    public static (string? Name, string Path) SplitInput(string text)
    {
        int eq = text.IndexOf('=');
        if (eq > 0 && !text[..eq].Contains('/') && !text[..eq].Contains('\\') && !text[..eq].EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            return (text[..eq], text[(eq + 1)..]);
        return (null, text);
    }

    /// <summary>
    /// Which of the --input files (<see cref="SplitInput"/>) feeds the data: the unnamed one, else the first named one
    /// that is not <paramref name="skip"/> (a token mask), else the first; the other named ones are side arrays by input name.
    /// </summary>
    public static ((string? Name, string Path)? Feed, Dictionary<string, NpyArray> Side) FeedAndSide(IEnumerable<string> inputs, string? skip = null)
    {
        var given = inputs.Select(SplitInput).ToList();
        (string? Name, string Path)? feed = given.Count == 0 ? null
            : given.FirstOrDefault(g => g.Name == null) is { Path: not null } unnamed ? unnamed
            : given.FirstOrDefault(g => g.Name != skip) is { Path: not null } named ? named : given[0];
        return (feed, Arrays(given.Where(g => g != feed)));
    }

    /// <summary>Every NAME=FILE.npy of <paramref name="inputs"/> read, by graph input name (all named: the data comes from --data).</summary>
    public static Dictionary<string, NpyArray> NamedArrays(IEnumerable<string> inputs) => Arrays(inputs.Select(SplitInput));

    static Dictionary<string, NpyArray> Arrays(IEnumerable<(string? Name, string Path)> given) =>
        given.ToDictionary(g => g.Name!, g => Npy.Read(g.Path), StringComparer.Ordinal);

    public static Option<string?> Run(bool required = false) => new Option<string?>("--run") { Description = "A run folder written by 'probe train'.", Required = required }.Check(RunDirectory);

    /// <summary>
    /// <c>--device auto|cpu|cuda[:N]</c>: where models run and train. Default cpu, so results are the same on every
    /// machine; auto picks CUDA when this build of libtorch has it. A malformed value exits 2; CUDA asked for where there
    /// is none fails naming the package to reference.
    /// </summary>
    public static Option<string> Device() => new Option<string>("--device")
    {
        Description = "Where models run (and linear CKA forms its products, and the torch probe trainer fits): auto (CUDA when available, else the CPU), cpu, cuda or cuda:N. Default cpu.",
        DefaultValueFactory = _ => "cpu",
    }.Check(DeviceError);

    /// <summary>Null when <paramref name="text"/> names a device, otherwise the accepted forms.</summary>
    public static string? DeviceError(string text)
    {
        try { ComputeDevice.Parse(text); return null; }
        catch (ProbeException e) { return e.Message; }
    }

    /// <summary>True when the user typed <paramref name="device"/> and it names a CUDA device (a malformed value is the option's own error).</summary>
    public static bool AsksForGpu(System.CommandLine.Parsing.CommandResult r, Option<string> device) =>
        r.GetResult(device) is { Implicit: false } && DeviceError(r.GetValue(device) ?? "cpu") == null
        && ComputeDevice.Parse(r.GetValue(device)!).Kind == DeviceKind.Cuda;

    /// <summary>The device an option names (already checked while parsing).</summary>
    public static ComputeDevice DeviceOf(ParseResult p, Option<string> device) => ComputeDevice.Parse(p.GetValue(device) ?? "cpu");

    /// <summary>An .npy (or other) input file that must exist.</summary>
    public static Option<string?> InputFile(string name, string description) => new Option<string?>(name) { Description = description }.Check(ExistingFile);

    /// <summary>
    /// Adds a check of the option's text value, run while parsing: <paramref name="check"/> returns an error message,
    /// or null when the value is fine. A refused value exits 2 with a usage line.
    /// </summary>
    public static Option<T> Check<T>(this Option<T> option, Func<string, string?> check)
    {
        option.Validators.Add(r =>
        {
            if (r.Implicit) return;
            foreach (var t in r.Tokens)
                if (check(t.Value) is string error) { r.AddError($"{option.Name}: {error}"); return; }
        });
        return option;
    }

    /// <summary>Refuses a number below <paramref name="min"/> (exit 2).</summary>
    public static Option<T> AtLeast<T>(this Option<T> option, double min) =>
        option.Satisfies(d => d >= min, $"at least {min.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>Refuses a number for which <paramref name="ok"/> is false (exit 2); <paramref name="requirement"/> completes "must be ...".</summary>
    public static Option<T> Satisfies<T>(this Option<T> option, Func<double, bool> ok, string requirement)
    {
        option.Validators.Add(r =>
        {
            if (r.Implicit || r.Tokens.Count == 0) return;
            object? value;
            try { value = r.GetValueOrDefault<T>(); }
            catch (InvalidOperationException) { return; } // not a number: the parser reports it
            if (value is IConvertible v && !ok(v.ToDouble(CultureInfo.InvariantCulture)))
                r.AddError($"{option.Name} must be {requirement}, got {r.Tokens[0].Value}.");
        });
        return option;
    }

    /// <summary>Null when <paramref name="path"/> is an existing file, otherwise what is wrong.</summary>
    public static string? ExistingFile(string path) =>
        File.Exists(path) ? null : Directory.Exists(path) ? $"'{path}' is a folder, not a file." : $"'{path}' does not exist.";

    /// <summary>Null when <paramref name="path"/> is an existing folder, otherwise what is wrong.</summary>
    public static string? ExistingFolder(string path) =>
        Directory.Exists(path) ? null : File.Exists(path) ? $"'{path}' is a file, not a folder." : $"folder '{path}' does not exist.";

    /// <summary>Null when <paramref name="path"/> is a run folder written by 'probe train'.</summary>
    public static string? RunDirectory(string path) =>
        ExistingFolder(path) ?? (File.Exists(Path.Combine(path, RunFolder.RunFile)) ? null : $"'{path}' is not a training run folder: it has no {RunFolder.RunFile}.");

    /// <summary>Null when <paramref name="spec"/> is a well-formed data source whose files exist.</summary>
    public static string? DataSpec(string spec)
    {
        try
        {
            var d = DataSource.Parse(spec);
            foreach (var path in new[] { d.Target, d.LabelsPath })
                if (path != null && d.Scheme != "synthetic" && !File.Exists(path) && !Directory.Exists(path))
                    return $"'{path}' (in data source '{spec}') does not exist.";
            return null;
        }
        catch (ProbeException e) { return e.Message; }
    }

    /// <summary>Null when an output can be written at <paramref name="path"/>: no folder on its way is a file.</summary>
    public static string? Writable(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) return "the output path is empty.";
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return $"'{path}' is not a valid path ({e.Message})."; }
        for (var d = Path.GetDirectoryName(full.TrimEnd('/')); !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d))
            if (File.Exists(d)) return $"cannot write '{path}': '{d}' is a file, not a folder.";
        return null;
    }

    /// <summary>Refuses (exit 2) an --out folder that exists and is not an earlier report, unless --force is given.</summary>
    public static void ReplaceableReport(Command cmd, Option<string> outDir, Option<bool> force) =>
        cmd.Validators.Add(r =>
        {
            if (r.GetResult(outDir) is null || r.GetValue(outDir) is not string dir || Writable(dir) != null) return;
            try { Probe.Reporting.ReportFolder.CheckReplaceable(dir, r.GetValue(force)); }
            catch (ProbeException e) { r.AddError(e.Message); }
        });

    /// <summary>Refuses (exit 2) an --out folder that exists and is neither empty nor an earlier capture, unless --force is given.</summary>
    public static void ReplaceableCapture(Command cmd, Option<string> outDir, Option<bool> force) =>
        cmd.Validators.Add(r =>
        {
            if (r.GetResult(outDir) is null || r.GetValue(outDir) is not string dir || Writable(dir) != null) return;
            if (CaptureFolderError(dir, r.GetValue(force)) is string e) r.AddError(e);
        });

    /// <summary>
    /// Null when a capture may be written to <paramref name="dir"/>: it does not exist, is empty, or is an earlier
    /// capture (it has layers.json), or <paramref name="force"/>; otherwise why not. A capture replaces its whole folder,
    /// so no file of an earlier capture lingers beside the new ones.
    /// </summary>
    public static string? CaptureFolderError(string dir, bool force)
    {
        if (force) return null;
        if (File.Exists(dir)) return $"'{dir}' is a file; a capture writes a folder. Give a new folder, or add --force to replace the file.";
        if (!Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any()) return null;
        CaptureManifest? manifest;
        try { manifest = CaptureManifest.Read(dir); }
        catch (Exception e) when (e is ProbeException or System.Text.Json.JsonException) { manifest = new CaptureManifest(null, [], null); } // unreadable: no file counts as written
        if (manifest == null)
            return $"'{dir}' exists and is not a Probe capture folder (it has no layers.json); a capture replaces its whole folder, so give a new folder or add --force.";
        // An earlier capture: replaced only when it holds nothing else (an input saved there would be deleted with it).
        var written = new HashSet<string>(manifest.Layers.Select(l => l.File).Concat(NpySink.FolderFiles), StringComparer.Ordinal) { CaptureManifest.FileName, ShardFiles.Capture };
        var other = Directory.EnumerateFileSystemEntries(dir).Select(e => Path.GetFileName(e)).Where(n => !written.Contains(n)).Order(StringComparer.Ordinal).ToList();
        return other.Count == 0 ? null
            : $"'{dir}' holds an earlier capture and also {string.Join(", ", other.Take(5))}{(other.Count > 5 ? ", ..." : "")}, which a capture did not write; a capture replaces its whole folder, so give a new folder or add --force.";
    }

    /// <summary>Comma-separated epoch numbers (also 'all', 'last' or 'final' where <paramref name="words"/> allows).</summary>
    public static string? EpochList(string text, params string[] words)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) return "no epoch given.";
        foreach (var part in parts)
            if (!words.Contains(part, StringComparer.OrdinalIgnoreCase) && !int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                return $"'{part}' is not an epoch number" + (words.Length > 0 ? $" (or {string.Join(", ", words)})." : ".");
        return null;
    }

    public static Option<MapReduction> Reduce() => new("--reduce")
    {
        Description = "How feature maps become rows: mean (per channel, default), max (per channel) or flatten (every value); sequence outputs [tokens, features] also first or last (token). With --token-mask, a sequence's mean, max, first and last take its real tokens only; flatten keeps every token.",
        HelpName = "mean|max|flatten|first|last",
        DefaultValueFactory = _ => MapReduction.Mean,
        CustomParser = r =>
        {
            string v = r.Tokens.Count > 0 ? r.Tokens[0].Value : "mean";
            if (Enum.TryParse<MapReduction>(v, ignoreCase: true, out var m)) return m;
            r.AddError($"--reduce must be mean, max, flatten, first or last (first and last: the first or last token of a sequence), not '{v}'.");
            return MapReduction.Mean;
        },
    };

    /// <summary>Loads a data source given by its text form.</summary>
    public static Dataset LoadData(string spec) => DataSource.Parse(spec).Load();

    /// <summary>Opens a data source as a stream of batches (files are read per batch, never whole). Dispose it when it is IDisposable.</summary>
    public static IDataset OpenData(string spec)
    {
        var data = DataSource.Parse(spec).Open();
        // on-error=skip leaves unreadable images out: say which, so a smaller data set is never a surprise.
        if (data is ImageFolderDataset { SixteenBitPngs.Count: > 0 } deep)
            ProbeCli.Warn($"{deep.SixteenBitPngs.Count} PNG(s) of 16 bits per channel, read at 8 bits (each value's high byte), e.g. {deep.SixteenBitPngs[0]}; "
                + "torchvision's default loader clips their values at 255 instead, so these inputs are not what its ImageFolder gives, and both lose precision: "
                + "to analyse the values your own loader makes, save them as .npy (--data npy:X.npy).");
        if (data is ImageFolderDataset { Skipped.Count: > 0 } images)
            ProbeCli.Warn($"{images.Skipped.Count} unreadable image(s) left out (on-error=skip), {images.Count} used: "
                + string.Join("; ", images.Skipped.Take(5).Select(k => $"{k.Path} ({k.Reason})")) + (images.Skipped.Count > 5 ? "; ..." : ""));
        return data;
    }

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
    /// <remarks>
    /// With <paramref name="model"/> (the --model text) a resnet or torchvision spec whose input size differs from the
    /// data's images also gets the spec with the data's size to use (torchvision:resnet18 is 3x224x224 unless told).
    /// </remarks>
    public static void CheckLayout(Probe.Capture.IActivationSource source, IDataset data, string? model = null)
    {
        if (source.InputShape is not { } shape) return;
        try { DataLayout.CheckAgainstModel(data, shape); }
        catch (ProbeException e) when (model != null && SpecForImages(model, data.SampleShape) is string better)
        {
            throw new ProbeException($"{e.Message} For images of {data.SampleShape[1]} x {data.SampleShape[2]}, give their size in the model spec: --model {better}", e);
        }
    }

    /// <summary>
    /// <paramref name="model"/> with its input size replaced by <paramref name="sample"/>'s ([C, H, W]) when it is a resnet
    /// or torchvision spec of C channels that takes images of another size; null otherwise.
    /// </summary>
    internal static string? SpecForImages(string model, int[] sample)
    {
        ModelSpec spec;
        try { spec = ModelSpec.Parse(model); }
        catch (ProbeException) { return null; }
        if (spec.Kind is not (ModelKind.ResNet or ModelKind.TorchVision) || sample.Length != 3 || sample[0] != spec.InputShape[0]
            || sample[1] == spec.InputShape[1] && sample[2] == spec.InputShape[2])
            return null;
        var parts = model.Trim().Split(':').Where((part, i) => i < 2 || !(part.Trim().Length > 0 && char.IsDigit(part.Trim()[0]) && part.Contains('x', StringComparison.OrdinalIgnoreCase)));
        string better = string.Join(':', parts.Append(string.Create(CultureInfo.InvariantCulture, $"{sample[0]}x{sample[1]}x{sample[2]}")));
        try { ModelSpec.Parse(better); }
        catch (ProbeException) { return null; } // too small for the architecture
        return better;
    }

    /// <summary>Refuses a value below 1 for an integer option (exit 2).</summary>
    public static void Positive(Command cmd, Option<int> option) =>
        cmd.Validators.Add(r => { if (r.GetResult(option) != null && r.GetValue(option) < 1) r.AddError($"{option.Name} must be at least 1, got {r.GetValue(option)}."); });

    /// <summary>Refuses a value below 1 for an optional integer option (exit 2).</summary>
    public static void Positive(Command cmd, Option<int?> option) =>
        cmd.Validators.Add(r => { if (r.GetValue(option) is int v && v < 1) r.AddError($"{option.Name} must be at least 1, got {v}."); });

    public static string F(double v, string format = "G6") => v.ToString(format, CultureInfo.InvariantCulture);
}
