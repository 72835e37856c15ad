// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title ModelRegistry
/// @notice Models are registered by their commitments (graph, constants, kernel set roots; docs/levels.md); the
/// weights live off chain. Kernel programs (one per op type) are registered by the admin at deployment.
contract ModelRegistry is IModelRegistry {
    error NotAdmin(address caller);
    error NotModelOwner(address caller);
    error UnknownModel(uint256 modelId);
    error ZeroRoot();
    error KernelAlreadyRegistered(uint32 opId);

    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 graphRoot,
        bytes32 constantsRoot,
        bytes32 kernelSetRoot,
        uint256 fee,
        string metadataURI
    );
    event ModelFeeChanged(uint256 indexed modelId, uint256 fee);
    event KernelRegistered(uint32 indexed opId, bytes32 codeRoot);

    address public immutable admin;
    uint256 public modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(uint32 opId => bytes32 codeRoot) public kernelCode;

    constructor(address admin_) {
        admin = admin_;
    }

    /// @notice Registers a model owned by the sender; ids start at 1.
    function registerModel(
        bytes32 graphRoot,
        bytes32 constantsRoot,
        bytes32 kernelSetRoot,
        string calldata metadataURI,
        uint256 fee
    ) external returns (uint256 modelId) {
        if (graphRoot == 0 || constantsRoot == 0 || kernelSetRoot == 0) revert ZeroRoot();
        modelId = ++modelCount;
        _models[modelId] = Model(msg.sender, graphRoot, constantsRoot, kernelSetRoot, fee, metadataURI);
        emit ModelRegistered(modelId, msg.sender, graphRoot, constantsRoot, kernelSetRoot, fee, metadataURI);
    }

    /// @notice The owner changes the minimum fee of a request on its model.
    function setFee(uint256 modelId, uint256 fee) external {
        Model storage model = _existing(modelId);
        if (msg.sender != model.owner) revert NotModelOwner(msg.sender);
        model.fee = fee;
        emit ModelFeeChanged(modelId, fee);
    }

    /// @notice The admin registers the code root of op `opId`'s kernel, once.
    function registerKernel(uint32 opId, bytes32 codeRoot) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        if (codeRoot == 0) revert ZeroRoot();
        if (kernelCode[opId] != 0) revert KernelAlreadyRegistered(opId);
        kernelCode[opId] = codeRoot;
        emit KernelRegistered(opId, codeRoot);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory) {
        return _existing(modelId);
    }

    /// @inheritdoc IModelRegistry
    function modelRoots(uint256 modelId)
        external
        view
        returns (bytes32 graphRoot, bytes32 constantsRoot, bytes32 kernelSetRoot, uint256 fee)
    {
        Model storage model = _existing(modelId);
        return (model.graphRoot, model.constantsRoot, model.kernelSetRoot, model.fee);
    }

    function _existing(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
    }
}
