using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Probe.Tests.Docs;

/// <summary>A notebook after a run: every code cell's result, and the kernel, still open for checks.</summary>
internal sealed record NotebookRun(string Path, IReadOnlyList<CellRun> Cells, KernelSession Kernel) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Kernel.DisposeAsync();

    /// <summary>Runs more code in the notebook's kernel (its variables are there) and returns what it printed.</summary>
    public async Task<string> PrintAsync(string code)
    {
        var run = await Kernel.SubmitAsync(code, TimeSpan.FromMinutes(2));
        if (!run.Succeeded) throw new InvalidOperationException("check code failed: " + run.Error);
        return run.StandardOutput.Trim();
    }
}

/// <summary>
/// Runs a .ipynb top to bottom in a real .NET Interactive kernel started in the notebook's folder (as VS Code and
/// Jupyter do), exactly as written: its <c>#i</c>/<c>#r "nuget: ..."</c> lines restore Probe from nupkg/, which
/// <c>dotnet build Probe.sln</c> fills. Fails on a cell error or an empty code cell. With PROBE_WRITE_NOTEBOOKS=1 the
/// outputs (figures as image/png) are written back into the notebook, so the committed notebooks render on GitHub.
/// </summary>
internal static class NotebookRunner
{
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Probe.sln"))) return dir.FullName;
        throw new InvalidOperationException("Probe.sln not found above " + AppContext.BaseDirectory);
    }

    static string Source(JsonNode cell)
    {
        var src = cell["source"];
        return src is JsonArray a ? string.Concat(a.Select(s => s!.GetValue<string>())) : src?.GetValue<string>() ?? "";
    }

    public static async Task<NotebookRun> RunAsync(string path)
    {
        var notebook = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var codeCells = notebook["cells"]!.AsArray().Where(c => (string?)c!["cell_type"] == "code").Select(c => c!).ToList();
        if (codeCells.Count == 0) throw new InvalidOperationException(path + " has no code cells.");
        var kernel = await KernelSession.StartAsync(System.IO.Path.GetDirectoryName(path)!, TimeSpan.FromMinutes(3));
        var results = new List<CellRun>();
        try
        {
            for (int i = 0; i < codeCells.Count; i++)
            {
                string code = Source(codeCells[i]);
                if (string.IsNullOrWhiteSpace(code))
                    throw new InvalidOperationException($"{System.IO.Path.GetFileName(path)} code cell {i + 1} is empty: it runs no code.");
                var run = await kernel.SubmitAsync(code, TimeSpan.FromMinutes(10));
                results.Add(run);
                if (!run.Succeeded)
                    throw new InvalidOperationException($"{System.IO.Path.GetFileName(path)} code cell {i + 1} failed in the kernel: {run.Error}");
            }
            if (Environment.GetEnvironmentVariable("PROBE_WRITE_NOTEBOOKS") == "1") WriteBack(path, notebook, codeCells, results);
            return new NotebookRun(path, results, kernel);
        }
        catch
        {
            await kernel.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Outputs as committed: this machine's paths (the kernel echoes the restore source and where it loaded
    /// extensions from) become relative to the notebooks folder (the repository root is <c>..</c>) or to the home
    /// folder (<c>~</c>). <see cref="MachinePaths"/> lists what must not remain.
    /// </summary>
    internal static string Scrub(string json)
    {
        foreach (var (path, replacement) in MachinePaths())
            json = json.Replace(path, replacement, StringComparison.Ordinal);
        return json;
    }

    /// <summary>Absolute paths of this machine that committed outputs must not contain, with what stands for them.</summary>
    internal static IEnumerable<(string Path, string Replacement)> MachinePaths()
    {
        yield return (RepoRoot().TrimEnd('/') + "/", "../");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (home.Length > 1) yield return (home.TrimEnd('/') + "/", "~/");
    }

    static void WriteBack(string path, JsonObject notebook, List<JsonNode> cells, List<CellRun> results)
    {
        for (int i = 0; i < cells.Count; i++)
        {
            var outputs = new JsonArray();
            foreach (var o in results[i].Outputs)
            {
                var copy = JsonNode.Parse(Scrub(o.ToJsonString()))!.AsObject();
                if ((string?)copy["output_type"] == "execute_result") copy["execution_count"] = i + 1;
                outputs.Add(copy);
            }
            cells[i]["outputs"] = outputs;
            cells[i]["execution_count"] = i + 1;
        }
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        File.WriteAllText(path, notebook.ToJsonString(options) + "\n");
    }
}
