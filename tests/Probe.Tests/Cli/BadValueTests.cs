using System.CommandLine;
using Probe.Cli;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// Every command, every option, a bad value of each: exit 2 with a usage line that names <c>probe</c>. The options are
/// enumerated from the System.CommandLine tree itself, so a new option is covered as soon as it exists (a new text
/// option must get a bad value in <see cref="TextBadValues"/>, or the test says so).
/// </summary>
public class BadValueTests : IClassFixture<BadValueTests.Inputs>
{
    /// <summary>A tiny training run (digits, 1 epoch) and a scratch folder shared by the cases.</summary>
    public sealed class Inputs : IDisposable
    {
        public string Dir { get; } = Cli.TempDir("badvalues");
        public string Run => Path.Combine(Dir, "RUN");

        public Inputs()
        {
            var (code, _, err) = Cli.Run("train", "--model", "mlp:64-8-10:relu", "--data", "digits", "--epochs", "1", "--out", Run, "--quiet");
            Assert.True(code == 0, err);
        }

        public void Dispose() => Directory.Delete(Dir, true);
    }

    private readonly Inputs _in;
    public BadValueTests(Inputs inputs) => _in = inputs;

    private const string Missing = "/nonexistent-probe-test";

    /// <summary>Bad values of text options, by name: a malformed spec, a path that does not exist, an unknown name.</summary>
    private static readonly Dictionary<string, string[]> TextBadValues = new(StringComparer.Ordinal)
    {
        ["--model"] = ["nosuchkind:1-2", "mlp:64-x-10"],
        ["--model-a"] = ["nosuchkind:1-2"],
        ["--model-b"] = ["nosuchkind:1-2"],
        // An ONNX file is a model with its own weights, not weights for a spec.
        ["--weights"] = [Missing + "/w.safetensors", Onnx.OnnxSourceTests.Fixture("resnet.onnx")],
        ["--weights-a"] = [Missing + "/w.safetensors", Onnx.OnnxSourceTests.Fixture("resnet.onnx")],
        ["--weights-b"] = [Missing + "/w.safetensors", Onnx.OnnxSourceTests.Fixture("resnet.onnx")],
        ["--data"] = ["nosuch-data", "npy:" + Missing + "/x.npy", "digits?bogus=1"],
        ["--layers"] = ["no_such_layer_xyz"],
        ["--run"] = [Missing + "/run"],
        ["--run-b"] = [Missing + "/run"],
        ["--acts-dir"] = [Missing + "/acts"],
        ["--acts"] = [Missing + "/a.npy"],
        ["--labels"] = [Missing + "/y.npy"],
        ["--train-mask"] = [Missing + "/m.npy"],
        ["--a"] = [Missing + "/a.npy"],
        ["--b"] = [Missing + "/b.npy"],
        ["--input"] = [Missing + "/x.npy"],
        ["--token-mask"] = ["attention_mask"],
        ["--epochs"] = ["one,two"],
        ["--shard"] = ["3/2", "x"],
        ["--out"] = ["/dev/null/sub/out"],
        ["--save-data"] = ["/dev/null/sub/x.json"],
        ["--method"] = ["bogus"],
        ["--optimizer"] = ["bogus"],
        ["--tsne-method"] = ["bogus"],
        ["--split"] = ["bogus"],
        ["--measure"] = ["bogus"],
        ["--kernel"] = ["bogus"],
        ["--device"] = ["gpu", "cuda:x"],
        ["parts"] = [Missing + "/shard0"],
    };

    /// <summary>Free text: no value is bad.</summary>
    private static readonly HashSet<string> FreeText = ["--title"];

    /// <summary>Out-of-range numbers, beside the non-number every numeric option gets.</summary>
    private static readonly Dictionary<string, string[]> RangeBadValues = new(StringComparer.Ordinal)
    {
        ["--batch-size"] = ["0"], ["--max-samples"] = ["0"], ["--iterations"] = ["0"], ["--perplexity"] = ["-1"],
        ["--test-fraction"] = ["2"], ["--fisher-lambda"] = ["-1"], ["--lr"] = ["0"], ["--dying-threshold"] = ["2"], ["--epsilon"] = ["-1", "Infinity"],
        ["--fail-above"] = ["2"], ["--quality-samples"] = ["-1"], ["--k"] = ["0"], ["--keep"] = ["2"], ["--batch"] = ["2"],
        ["--sigma-frac"] = ["0"], ["--bootstrap"] = ["1"], ["--permutations"] = ["1"],
    };

    /// <summary>A valid invocation of each command (it parses without error); the bad value is added to it.</summary>
    private string[] Base(string command)
    {
        string relu = Cli.Fixture("digits_relu1.npy"), labels = Cli.Fixture("digits_labels.npy");
        string o = Path.Combine(_in.Dir, "out-" + command);
        return command switch
        {
            "layers" => ["layers", "--model", "mlp:64-10:relu"],
            "train" => ["train", "--model", "mlp:64-10:relu", "--data", "digits", "--epochs", "1", "--out", o],
            "capture" => ["capture", "--model", "mlp:64-10:relu", "--random-weights", "--data", "digits", "--out", o],
            "dead" => ["dead", "--model", "mlp:64-10:relu", "--random-weights", "--data", "digits"],
            "separability" or "linear-probe" => [command, "--acts", relu, "--labels", labels],
            "report" => ["report", "--run", _in.Run, "--out", o],
            "cka" => ["cka", "--a", relu, "--b", relu],
            "compare" => ["compare", "--run", _in.Run],
            "similarity" => ["similarity", "--measure", "cka", "--a", relu, "--b", relu],
            "project" => ["project", "--acts", relu, "--out", o + ".npy"],
            "evolution" => ["evolution", "--run", _in.Run, "--out", o + ".png"],
            "merge" => ["merge", _in.Run, "--out", o],
            "demo" => ["demo", "--out", o],
            _ => throw new InvalidOperationException($"Add a valid base invocation of the new command '{command}' to BadValueTests.Base."),
        };
    }

    /// <summary>A few options belong to another mode of their command: the base of that mode.</summary>
    private string[]? ModeBase(string command, string option) => (command, option) switch
    {
        // cka, compare and similarity share one grammar (issue 15): every mode's options on each of them.
        ("cka" or "compare" or "similarity", "--run" or "--run-b" or "--epochs" or "--split") => [command, .. Measure(command), "--run", _in.Run],
        ("cka" or "similarity", "--model-a" or "--model-b" or "--weights-a" or "--weights-b") =>
            [command, .. Measure(command), "--model-a", "mlp:64-8-10:relu", "--weights-a", Weights, "--weights-b", Weights, "--data", "digits"],
        ("compare", "--a" or "--b") => ["compare", "--a", Cli.Fixture("digits_relu1.npy"), "--b", Cli.Fixture("digits_relu1.npy")],
        ("compare", "--acts-dir") => ["compare"],
        ("compare", "--model") => ["compare", "--random-weights", "--data", "digits"],
        ("compare", "--weights") => ["compare", "--model", "mlp:64-10:relu", "--data", "digits"],
        ("compare" or "similarity", "--shard") => [command, .. Measure(command), "--model", "mlp:64-8-10:relu", "--weights", Weights, "--data", "digits", "--method", "minibatch", "--out", Path.Combine(_in.Dir, command + "-shard")],
        ("dead" or "separability" or "linear-probe" or "cka" or "similarity", "--acts-dir") => [command],
        ("dead" or "separability" or "linear-probe", "--run") => [command],
        ("dead", "--shard") => ["dead", "--model", "mlp:64-10:relu", "--random-weights", "--data", "digits", "--out", Path.Combine(_in.Dir, "shard")],
        ("separability" or "linear-probe", "--epochs") => [command, "--run", _in.Run],
        ("dead" or "capture" or "cka" or "similarity" or "separability" or "linear-probe" or "layers", "--weights") => [command, "--model", "mlp:64-10:relu", .. Rest(command)],
        ("separability" or "linear-probe" or "cka" or "similarity", "--model") => [command, "--random-weights", .. Rest(command)],
        ("separability" or "linear-probe" or "cka" or "similarity", "--data" or "--layers") => [command, "--model", "mlp:64-10:relu", "--random-weights",
            .. (option == "--layers" ? ["--data", "digits"] : Array.Empty<string>()), .. (command == "similarity" ? new[] { "--measure", "cka" } : [])],
        ("cka" or "similarity", "--reduce" or "--method" or "--batch-size" or "--max-samples" or "--seed") when option != "--seed" || command == "cka" => [command, "--model", "mlp:64-10:relu", "--random-weights", "--data", "digits", .. (command == "similarity" ? new[] { "--measure", "cka" } : [])],
        ("compare", "--model-a" or "--model-b" or "--weights-a" or "--weights-b" or "--data") => ["compare", "--model-a", "mlp:64-8-10:relu", "--weights-a", Weights, "--weights-b", Weights, "--data", "digits"],
        ("report", "--weights" or "--model" or "--random-weights" or "--data") => ["report", "--model", "mlp:64-8-10:relu", "--weights", Weights, "--data", "digits", "--out", Path.Combine(_in.Dir, "report-model")],
        ("cka", "--shard") => ["cka", "--model", "mlp:64-8-10:relu", "--weights", Weights, "--data", "digits", "--method", "minibatch", "--out", Path.Combine(_in.Dir, "cka-shard")],
        ("cka" or "similarity", "--out") => [command, "--model", "mlp:64-8-10:relu", "--weights", Weights, "--data", "digits", .. (command == "similarity" ? new[] { "--measure", "cka" } : [])],
        ("compare", "--random-weights") => ["compare", "--model-a", "mlp:64-8-10:relu", "--data", "digits"],
        ("layers", "--input") => ["layers", "--model", OnnxFixture("two.onnx")],
        ("capture", "--input") => ["capture", "--model", "mlp:64-10:relu", "--random-weights", "--out", Path.Combine(_in.Dir, "cap-input")],
        // A side input of an ONNX model with two graph inputs (make_onnx.py's two.onnx: x and ids).
        (_, "--input") => [command, .. Measure(command), "--model", OnnxFixture("two.onnx"), "--data", "npy:" + OnnxFixture("two_x.npy"),
            .. (command == "report" ? new[] { "--out", Path.Combine(_in.Dir, "report-input") } : [])],
        _ => null,
    };

    private string Weights => Path.Combine(_in.Run, "checkpoints", "epoch-001.safetensors");

    private static string OnnxFixture(string file) => Path.Combine(AppContext.BaseDirectory, "fixtures", "onnx", file);

    private static string[] Measure(string command) => command == "similarity" ? ["--measure", "cka"] : [];

    private static string[] Rest(string command) => command switch
    {
        "similarity" => ["--measure", "cka", "--data", "digits"],
        "layers" => [],
        "capture" => ["--data", "digits", "--out", Path.Combine(Path.GetTempPath(), "probe-badvalues-never-written")],
        _ => ["--data", "digits"],
    };

    /// <summary>Bad values of an option, from its value type (and the tables above for text and ranges).</summary>
    private static IEnumerable<string> BadValues(string name, Type type, string command)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(bool)) { yield return "maybe"; yield break; }
        if (t.IsEnum) { yield return "bogus"; yield break; }
        if (t == typeof(int) || t == typeof(long) || t == typeof(double) || t == typeof(float))
        {
            yield return "x1";
            foreach (var v in RangeBadValues.GetValueOrDefault(name) ?? []) yield return v;
            yield break;
        }
        if (t == typeof(string) || t == typeof(string[]))
        {
            if (FreeText.Contains(name)) yield break;
            if (!TextBadValues.TryGetValue(name, out var values))
                throw new InvalidOperationException($"'probe {command} {name}' is a new text option: add a bad value for it to BadValueTests.TextBadValues (or to FreeText).");
            foreach (var v in values) yield return v;
            if (name == "--out" && command is "project" or "evolution") yield return Path.Combine(Path.GetTempPath(), "fig.txt");
            yield break;
        }
        throw new InvalidOperationException($"'probe {command} {name}' has a value type {t.Name} the test does not know: add its bad values.");
    }

    private static readonly HashSet<string> Global = ["--help", "-h", "--version", "--verbose", "--quiet"];

    [Fact]
    public void Every_option_of_every_command_refuses_a_bad_value_with_exit_2()
    {
        var (cases, failures) = Check(_ => true);
        Assert.True(cases > 190, $"only {cases} cases");
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases} bad values were not refused with exit 2:\n" + string.Join("\n", failures));
    }

    private (int Cases, List<string> Failures) Check(Func<string, bool> commands)
    {
        var root = ProbeCli.BuildRoot(new CliContext(TextWriter.Null, TextWriter.Null));
        var failures = new List<string>();
        int cases = 0;
        foreach (var command in root.Subcommands.Where(c => commands(c.Name)))
        {
            var baseArgs = Base(command.Name);
            var parsed = root.Parse(baseArgs);
            Assert.True(parsed.Errors.Count == 0, $"the base invocation of {command.Name} does not parse: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
            var symbols = command.Options.Where(o => !Global.Contains(o.Name)).Select(o => (Name: o.Name, Type: o.ValueType, IsArgument: false))
                .Concat(command.Arguments.Select(a => (Name: a.Name, Type: a.ValueType, IsArgument: true)));
            foreach (var (name, type, isArgument) in symbols)
            {
                var mode = ModeBase(command.Name, name) ?? baseArgs;
                foreach (var bad in BadValues(name, type, command.Name))
                {
                    cases++;
                    string[] args = isArgument ? [command.Name, bad, .. mode.Skip(2)] : [.. Without(mode, name), name, bad];
                    var (code, _, err) = Cli.Run([.. args, "--quiet"]);
                    bool names = err.Contains(bad, StringComparison.Ordinal) || err.Contains(name + ":", StringComparison.Ordinal)
                        || err.Contains($"'{name}'", StringComparison.Ordinal) || err.Contains(name + " must", StringComparison.Ordinal)
                        || (isArgument && err.Contains("Shard ", StringComparison.Ordinal));
                    if (code != ExitCodes.Usage || !err.Contains($"Usage: run 'probe {command.Name} --help'", StringComparison.Ordinal) || !names)
                        failures.Add($"probe {string.Join(' ', args)} -> exit {code}: {err.Trim().Replace('\n', ' ')}");
                }
            }
        }
        return (cases, failures);
    }

    /// <summary>The arguments without <paramref name="option"/> and its value (when the base gives it).</summary>
    private static string[] Without(string[] args, string option)
    {
        var list = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == option) { if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) i++; continue; }
            list.Add(args[i]);
        }
        return [.. list];
    }

    [Theory]
    [InlineData("'captur'. Did you mean 'capture'?", "captur")]
    [InlineData("'--ouT'. Did you mean '--out'?", "dead", "--run", "R", "--ouT", "x")]
    [InlineData("'--jsn'. Did you mean '--json'?", "cka", "--jsn")]
    [InlineData("'--verbos'. Did you mean '--verbose'?", "layers", "--model", "mlp:4-2", "--verbos")]
    public void A_misspelt_command_or_option_gets_the_nearest_name(string expected, params string[] args)
    {
        var (code, _, err) = Cli.Run(args);
        Assert.Equal(2, code);
        Assert.Contains("Unrecognized command or argument " + expected, err);
        Assert.DoesNotContain("Required command was not provided", err);
    }

    [Fact]
    public void A_name_far_from_every_option_gets_no_suggestion()
    {
        var (code, _, err) = Cli.Run("cka", "--zzzzzzzz");
        Assert.Equal(2, code);
        Assert.Contains("Unrecognized command or argument '--zzzzzzzz'.", err);
        Assert.DoesNotContain("Did you mean", err);
    }
}
