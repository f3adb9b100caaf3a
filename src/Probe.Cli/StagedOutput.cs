namespace Probe.Cli;

/// <summary>
/// An output file or folder written under a hidden temporary name next to its final path and renamed into place by
/// <see cref="Commit"/> when complete. Until then it is registered with <see cref="ProbeCli.Pending"/> (removed if the
/// process is stopped), and <see cref="Dispose"/> removes what an interrupted or failed command left. A file keeps its
/// extension (exporters choose the format by it).
/// </summary>
public sealed class StagedOutput : IDisposable
{
    private readonly IDisposable _pending;
    private bool _committed;

    /// <summary>Stages <paramref name="path"/>: a folder when <paramref name="folder"/>, otherwise a file.</summary>
    public StagedOutput(string path, bool folder)
    {
        Final = System.IO.Path.GetFullPath(path).TrimEnd('/');
        IsFolder = folder;
        string parent = System.IO.Path.GetDirectoryName(Final) ?? ".";
        string name = System.IO.Path.GetFileName(Final);
        string tag = ".partial-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Path = System.IO.Path.Combine(parent, folder ? "." + name + tag : "." + System.IO.Path.GetFileNameWithoutExtension(name) + tag + System.IO.Path.GetExtension(name));
        Directory.CreateDirectory(parent);
        Remove(Path);
        if (folder) Directory.CreateDirectory(Path);
        _pending = ProbeCli.Pending(Path);
    }

    /// <summary>Where the output goes when complete.</summary>
    public string Final { get; }

    /// <summary>Where to write it meanwhile.</summary>
    public string Path { get; }

    public bool IsFolder { get; }

    /// <summary>
    /// Moves the output into place. A file replaces the final file; a folder becomes the final folder, or, when that
    /// exists, its entries replace the same-named entries there (other entries are kept).
    /// </summary>
    public void Commit()
    {
        if (_committed) return;
        if (!IsFolder) File.Move(Path, Final, overwrite: true);
        else if (!Directory.Exists(Final))
        {
            if (File.Exists(Final)) File.Delete(Final);
            Directory.Move(Path, Final);
        }
        else
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(Path).ToList())
            {
                string target = System.IO.Path.Combine(Final, System.IO.Path.GetFileName(entry));
                if (Directory.Exists(entry))
                {
                    Remove(target);
                    Directory.Move(entry, target);
                }
                else File.Move(entry, target, overwrite: true);
            }
            Directory.Delete(Path, true);
        }
        _committed = true;
        _pending.Dispose();
    }

    /// <summary>Removes the temporary output unless it was committed.</summary>
    public void Dispose()
    {
        _pending.Dispose();
        if (!_committed)
        {
            try { Remove(Path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static void Remove(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, true);
        else if (File.Exists(path)) File.Delete(path);
    }
}
