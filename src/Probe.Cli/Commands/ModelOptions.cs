using System.CommandLine;
using System.CommandLine.Parsing;
using Probe.Capture;
using Probe.Data;
using Probe.Models;

namespace Probe.Cli.Commands;

/// <summary>
/// The ways an analysis command gets activations, shared by every command: a model (<c>--model</c> spec or .onnx, with
/// <c>--weights</c>, or <c>--random-weights</c> for an untrained one) run on <c>--data</c>, or a folder of precomputed
/// activations (<c>--acts-dir</c>: written by <c>probe capture</c>, or .npy files from PyTorch) with no model at all.
/// </summary>
internal sealed class ModelOptions
{
    public Option<string?> Model { get; } = new Option<string?>("--model") { Description = CliOptions.ModelOrOnnx }.Check(CliOptions.ModelError);
    public Option<string?> Weights { get; } = CliOptions.Weights();
    public Option<bool> RandomWeights { get; } = new("--random-weights") { Description = "Analyse the model's seeded random initialisation (an untrained model) instead of trained --weights." };
    public Option<string> Device { get; } = CliOptions.Device();
    public Option<string?> ActsDir { get; } = new Option<string?>("--acts-dir") { Description = "A folder of activations instead of a model: written by 'probe capture', or .npy files from PyTorch (one per layer, plus labels.npy)." }.Check(CliOptions.ExistingFolder);

    /// <summary>Side inputs of an ONNX model with several graph inputs (an attention mask beside token ids): NAME=FILE.npy.</summary>
    public Option<string[]> Inputs { get; } = SideInputs();

    /// <summary>The graph input (given with --input NAME=FILE.npy) whose rows mark each sample's real tokens: <see cref="ActivationCapture.TokenMask"/>.</summary>
    public Option<string?> TokenMask { get; } = new("--token-mask")
    {
        Description = "The graph input that marks each sample's real tokens, e.g. attention_mask: given with --input NAME=FILE.npy as [N, T] (1 = real token, 0 = padding; int64, int32, bool or float). " +
                      "Sequence sites of T tokens are then pooled over the real tokens only (mean = sum(h * mask) / sum(mask), max over real tokens, first and last real token; flatten keeps every value, padding included), " +
                      "and dead units are judged on real tokens only. Other sites are unaffected.",
        HelpName = "NAME",
    };

    static Option<string[]> SideInputs()
    {
        var o = new Option<string[]>("--input")
        {
            Description = "A graph input of an ONNX model fed from an array instead of the data: NAME=FILE.npy, one row per sample of the whole data set, in its order (repeat for each: an attention mask, token type ids; int64 stays int64). The data feeds the input left over.",
            AllowMultipleArgumentsPerToken = false,
        };
        o.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
            {
                var (name, path) = CliOptions.SplitInput(t.Value);
                if (name == null) { r.AddError($"--input takes NAME=FILE.npy (a graph input's name and its array), got '{t.Value}'."); continue; }
                if (CliOptions.ExistingFile(path) is string why) r.AddError(why);
            }
        });
        return o;
    }

    /// <summary>
    /// Adds the options (and <c>--acts-dir</c> when <paramref name="actsDir"/>, <c>--input</c> when <paramref name="inputs"/>,
    /// <c>--token-mask</c> when <paramref name="tokenMask"/>: every command that runs a model on named inputs).
    /// </summary>
    public void AddTo(Command cmd, bool actsDir = true, bool inputs = true, bool tokenMask = true)
    {
        cmd.Add(Model); cmd.Add(Weights); cmd.Add(RandomWeights); cmd.Add(Device);
        if (actsDir) cmd.Add(ActsDir);
        if (inputs) cmd.Add(Inputs);
        if (tokenMask) cmd.Add(TokenMask);
    }

    /// <summary>The --token-mask value (null when not given).</summary>
    public string? TokenMaskOf(ParseResult p) => p.GetValue(TokenMask);

    /// <summary>The --input arrays by graph input name (none when not given).</summary>
    public IReadOnlyDictionary<string, NpyArray>? SideArrays(ParseResult p) =>
        p.GetValue(Inputs) is { Length: > 0 } given ? CliOptions.NamedArrays(given) : null;

    public bool HasModel(CommandResult r) => r.GetResult(Model) != null;
    public bool HasActsDir(CommandResult r) => r.GetResult(ActsDir) != null;

    /// <summary>
    /// The checks every command shares: a model spec needs trained weights (or an explicit <c>--random-weights</c>);
    /// an ONNX file carries its own; <c>--acts-dir</c> takes no model options.
    /// </summary>
    public void Validate(CommandResult r, Option<string[]>? inputs = null)
    {
        inputs ??= Inputs;
        if (r.Command.Options.Contains(TokenMask) && r.GetResult(TokenMask) != null && r.GetValue(TokenMask) is string mask)
        {
            var named = (r.GetValue(inputs) ?? []).Select(i => CliOptions.SplitInput(i).Name).Where(n => n != null).ToList();
            if (!(HasModel(r) && ModelLoader.IsOnnx(r.GetValue(Model)!)))
                r.AddError($"--token-mask names a graph input of an ONNX model (--model FILE.onnx, with --input {mask}=FILE.npy); other models and --acts-dir have no named inputs.");
            else if (!named.Contains(mask))
                r.AddError($"--token-mask {mask} reads the mask from the array given for that input: add --input {mask}=MASK.npy ([N, T]: 1 = real token, 0 = padding)" +
                           (named.Count > 0 ? $"; the inputs given are {string.Join(", ", named)}." : "."));
        }
        bool weights = r.GetResult(Weights) != null, random = r.GetResult(RandomWeights) != null && r.GetValue(RandomWeights);
        if (HasActsDir(r) && (HasModel(r) || weights || random))
            r.AddError("--acts-dir holds activations already; it takes no --model, --weights or --random-weights.");
        if (r.Command.Options.Contains(Inputs) && r.GetResult(Inputs) != null && !(HasModel(r) && ModelLoader.IsOnnx(r.GetValue(Model)!)))
            r.AddError("--input feeds a graph input of an ONNX model (--model FILE.onnx); other models and --acts-dir take none.");
        if (!HasModel(r))
        {
            if (weights || random) r.AddError("--weights and --random-weights go with --model.");
            return;
        }
        string model = r.GetValue(Model)!;
        if (CliOptions.ModelError(model) != null) return; // the option's own check says what is wrong
        if (ModelLoader.CarriesWeights(model))
        {
            if (weights) r.AddError($"'{model}' is an ONNX model, which carries its own weights; drop --weights.");
            if (random) r.AddError($"'{model}' is an ONNX model with its own weights; --random-weights applies to model specs.");
        }
        else if (weights && random) r.AddError("Give --weights or --random-weights, not both.");
        else if (!weights && !random)
            r.AddError($"--model {model} needs --weights FILE (the trained weights). Without them the model would have random weights; add --random-weights if analysing an untrained model is what you want.");
    }

    /// <summary>A model the user names wrongly (an unknown kind or torchvision name, a missing ONNX file) is a usage error (exit 2).</summary>
    public static void CheckModel(CommandResult r, string model)
    {
        if (CliOptions.ModelError(model) is string error) r.AddError(error);
    }

    /// <summary>
    /// Refuses <c>--device cuda[:N]</c> where no model runs (<paramref name="what"/> names the mode): the analyses of
    /// stored activations run on the CPU, and a GPU request silently ignored would be worse than an error.
    /// </summary>
    public void RejectDeviceWithoutModel(CommandResult r, string what)
    {
        if (CliOptions.AsksForGpu(r, Device))
            r.AddError($"--device {r.GetValue(Device)} places a model on a GPU, but {what} runs no model: this analysis of stored activations runs on the CPU (the GPU paths without a model are linear CKA of two matrices, PCA in probe project and linear-probe --trainer torch). Drop --device (or use --model/--run to run a model there).");
    }

    /// <summary>Opens the model given by the options (seeded initialisation for --random-weights).</summary>
    public IActivationSource Open(ParseResult p, int seed, IReadOnlyDictionary<string, NpyArray>? inputs = null, string? dataInput = null) =>
        ModelLoader.Open(p.GetValue(Model)!, p.GetValue(RandomWeights) ? null : p.GetValue(Weights), seed, inputs, dataInput, DeviceOf(p));

    /// <summary>The --device value.</summary>
    public ComputeDevice DeviceOf(ParseResult p) => CliOptions.DeviceOf(p, Device);

    /// <summary>Opens the --acts-dir folder.</summary>
    public PrecomputedSource OpenActs(ParseResult p) => PrecomputedSource.Open(p.GetValue(ActsDir)!);

    /// <summary>A short name of the model for titles: the spec or file name, and the weights file.</summary>
    public string Title(ParseResult p) => p.GetValue(ActsDir) is string dir ? $"activations in {dir}"
        : p.GetValue(Weights) is string w ? $"{p.GetValue(Model)} ({Path.GetFileName(w)})"
        : p.GetValue(RandomWeights) ? $"{p.GetValue(Model)} (random weights)" : p.GetValue(Model)!;

    /// <summary>
    /// The source and the data it runs on: the model with <paramref name="dataSpec"/> loaded, or the --acts-dir folder
    /// with its own rows.
    /// </summary>
    public (IActivationSource Source, IDataset Data) OpenWithData(ParseResult p, string? dataSpec, int seed)
    {
        if (p.GetValue(ActsDir) != null)
        {
            var acts = OpenActs(p);
            return (acts, acts.Rows);
        }
        var data = CliOptions.OpenData(dataSpec ?? throw new ProbeException("--model needs --data DATA."));
        IActivationSource? source = null;
        try
        {
            source = Open(p, seed, SideArrays(p));
            CliOptions.CheckLayout(source, data, p.GetValue(Model));
        }
        catch
        {
            source?.Dispose();
            (data as IDisposable)?.Dispose();
            throw;
        }
        return (source, data);
    }
}
