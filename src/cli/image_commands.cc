#include "cli/image_commands.h"

namespace berth {

void AddImageCommands(CLI::App& app, std::function<int()>& chosen) {
  (void)app;
  (void)chosen;
}

}  // namespace berth
